"""Files sent and received over MSRP (RFC 5547): names, reading, writing."""
