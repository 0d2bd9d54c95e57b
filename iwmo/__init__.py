"""iWmo 3.2: caselog's models of the national message standard, its codec and the inbound
mapping of messages onto the case aggregate. See docs/iwmo.md."""
