"""The prediction log: what the service saw and answered, for the monitor to read back.

`format` holds the record, the file names and the rotation, shipping and retention rules (pure);
`writer` applies them in the service (a thread, file locks, a store); `reader` reads the files
back. Nothing is re-exported here: the monitor imports the reader without the writer's thread.
"""
