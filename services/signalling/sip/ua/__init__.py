"""The UA core's decisions outside dialogs: accounts and what to do with a new request."""
