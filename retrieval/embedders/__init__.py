"""Embedders beyond sentence-transformers: GGUF models through llama.cpp (`gguf`), OpenAI-compatible
embeddings endpoints (`openai_endpoint`), and the task prompts they apply by `kind` (`prompts`).
`retrieval.embedder.build_embedder` picks one from a reference; nothing heavy is imported here."""
