"""The handlers of the JSON API (`/api/v1`) and the probes: each parses its input, calls one
service (or query) function and answers. The route table is in `cip.app`."""
