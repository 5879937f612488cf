"""The chat: a visitor's question and its streamed answer, from the rules of a turn (rules)
through the service that runs it (turn) and the LLM client (llm, sse, prompts) to the reply's
life after the stream (streams, replies) and its safe HTML (markdown)."""
