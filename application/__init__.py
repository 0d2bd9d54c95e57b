"""The application: commands and time-travel queries on cases, the group committer, the
client registry, retention and settings."""
