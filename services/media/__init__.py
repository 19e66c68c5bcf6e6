"""The media service (answers the bus; its protocol engine arrives in a later issue)."""
