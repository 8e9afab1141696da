"""Lookalike and keyword watches: which newly seen names imitate a watched brand domain
or contain a watched word (pure matching in `matcher`, permutations in `permutations`,
folding of homoglyphs in `folding`)."""
