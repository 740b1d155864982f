"""Everything written at ingest: loaders, tokenizer, embedders, Chroma store, BM25 index."""
