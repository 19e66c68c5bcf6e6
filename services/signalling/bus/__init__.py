"""The bus side: the signalling service, its method mixins, events, parameters,
status and trace."""
