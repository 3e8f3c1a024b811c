"""Training the project's own cross-encoder reranker (no registry package carries cross-encoder weights).

The recipe, one module per step, all offline:

- `corpus`: documentation corpora (Debian's python3.11-doc, postgresql-doc-15; git-doc held out for
  evaluation) or any directory, loaded and chunked into `Passage`s with the project's loaders and chunker;
- `index`: BM25 and bi-encoder rankings over those passages (filtering and negative mining use both);
- `questions`: the `QuestionWriter` seam (a local chat model writes one question per passage, InPars /
  Promptagator style) and the filters that keep only good questions;
- `pairs`: weak pairs (heading -> section, FAQ question -> answer), hard negatives, the split by document;
- `train`: a sentence-transformers `CrossEncoder` with one output trained with binary cross-entropy;
- `artifacts` and `shipped`: the model card, the training report and the SHA256SUMS manifest, and the
  checks that refuse a missing or corrupted weight file;
- `heldout`: a BEIR-format test set from a corpus (git's documentation), for `ragloop reranker eval`;
- `evaluation`: BM25, dense, hybrid and hybrid + reranker side by side, and the rerank latency;
- `recipe`: the whole pipeline with stage timings; `testing`: a deterministic `QuestionWriter` double.

Nothing here imports the agent: the CLI (`agent/cli/reranker_cmd.py`) provides the question writer.
Heavy libraries (torch, sentence-transformers) load inside functions only.
"""
