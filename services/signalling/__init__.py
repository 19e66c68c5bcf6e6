"""The signalling service (answers the bus; its protocol engine arrives in a later issue)."""
