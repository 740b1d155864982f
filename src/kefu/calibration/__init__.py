"""What the owner runs to calibrate and check kefu on their own knowledge base: `kefu tune`
(thresholds, retrieval weights, the choice threshold) and `kefu check`, with the LLM-written
questions they cache. Above the agent, beside evals (which measures); below the UI."""
