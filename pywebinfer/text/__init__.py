"""Text preprocessing for language models, in pure Python (runs in Pyodide without
`transformers` or `tokenizers`)."""
from .wordpiece import WordPieceTokenizer

__all__ = ["WordPieceTokenizer"]
