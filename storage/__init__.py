"""Storage: the database URL, the event store adapter, the stored-event mapper and the
read-model database with its migrations. Imports nothing of ours but domain."""
