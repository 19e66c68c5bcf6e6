"""SIP messages as values: the frozen request/response types, the parser,
addresses (where a message goes) and message/sipfrag bodies."""
