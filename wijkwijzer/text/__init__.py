"""Text below everything else: Dutch word analysis (folding, stop words, stemming, compounds, synonyms) and
markdown to HTML or plain text. Search and matching both use it; it imports neither."""
