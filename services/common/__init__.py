"""What every service shares: the bus server side (`service`)."""
