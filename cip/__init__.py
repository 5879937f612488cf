"""CIP: the backend of a multi-tenant conversational website."""
