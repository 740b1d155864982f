"""Read side: dense + BM25 queries fused into one score the answer ladder can act on."""
