"""The knowledge base: a tenant's documents, read into chunks, searched for every question."""
