"""The matcher (pure): which watches a newly seen name matches, and why.

Built once from the watches (rebuilt when they change), then asked per name. The cost
per name does not grow with the number of watches: one dict look-up for the exact
permutations, one look-up per deletion of the name's skeleton (a SymSpell-style index
of every brand's skeleton and its one-letter deletions), and two Aho-Corasick passes
(brand labels over the name's skeleton; keywords over its folded form).

Rules, in the order a reason is kept (one reason per watch and registrable domain):
- `permutation`: the registrable domain is one of the brand's dnstwist permutations
  (or a brand+TLD concatenation such as `interfaxru.com`);
- `tld-swap` / `homoglyph` / `edit`: its label is the brand's label under another TLD,
  looks the same once homoglyphs are folded (`іnterfax.ru`, Cyrillic і), or is one edit
  away after folding (brands of 5 letters or more);
- `contains`: a label of the name contains the brand's label (`interfax-news.com`,
  `interfax.ru.login.example`); brands of 3 letters or fewer only as a whole word;
- `keyword`: the name, IDN-decoded and homoglyph-folded, contains the word.
The brand's own registrable domain and its subdomains never match its watch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found]

from bot.watches.folding import decode_name, fold_unicode, skeleton
from bot.watches.model import Reason, Watch, WatchKind
from bot.watches.permutations import brand_parts, permutations, registrable_domain

MIN_EDIT_BRAND = 5  # shorter brands: only exact homoglyph look-alikes, one edit is noise
MIN_CONTAINED_BRAND = 4  # shorter labels match as a whole hyphen-separated word only
CACHE_NAMES = 50_000  # a precertificate, its certificate and other logs repeat names


@dataclass(frozen=True)
class NameMatch:
    name: str  # as seen, e.g. www.interfaxru.com
    registrable: str  # interfaxru.com: what a finding is about
    reasons: tuple[Reason, ...]


def normalise_seen_name(name: str) -> str:
    """A CN/SAN as a host name: lower-case, no wildcard label, no trailing dot."""
    name = name.strip().lower().rstrip(".")
    while name.startswith("*."):
        name = name[2:]
    return name


def keyword_form(word: str) -> str:
    """How a keyword is stored and matched: IDN-decoded, homoglyph-folded, lower-case."""
    return fold_unicode(decode_name(word.strip()))


class Matcher:
    def __init__(self, watches: Iterable[Watch]) -> None:
        self.watches = {w.id: w for w in watches}
        self._own: dict[int, str] = {}
        self._exact: dict[str, list[Reason]] = {}
        # skeleton (or a one-letter deletion of it) -> (watch, brand label, brand skeleton)
        self._skeletons: dict[str, list[tuple[int, str, str]]] = {}
        brands = ahocorasick.Automaton()
        keywords = ahocorasick.Automaton()
        brand_patterns: dict[str, list[tuple[int, str]]] = {}
        keyword_patterns: dict[str, list[int]] = {}
        short_brands: dict[str, list[int]] = {}
        for watch in self.watches.values():
            if watch.kind is WatchKind.KEYWORD:
                keyword_patterns.setdefault(keyword_form(watch.term), []).append(watch.id)
                continue
            self._own[watch.id] = watch.term
            for permutation in permutations(watch.term):
                reason = Reason(watch.id, "permutation", permutation.rule)
                self._exact.setdefault(permutation.domain, []).append(reason)
            label, _ = brand_parts(watch.term)
            brand_skeleton = skeleton(decode_name(label))
            for key in _deletions(brand_skeleton, watch=len(brand_skeleton) >= MIN_EDIT_BRAND):
                self._skeletons.setdefault(key, []).append((watch.id, label, brand_skeleton))
            if len(brand_skeleton) >= MIN_CONTAINED_BRAND:
                brand_patterns.setdefault(brand_skeleton, []).append((watch.id, label))
            else:
                short_brands.setdefault(brand_skeleton, []).append(watch.id)
        for pattern, owners in brand_patterns.items():
            brands.add_word(pattern, tuple(owners))
        for pattern, ids in keyword_patterns.items():
            keywords.add_word(pattern, tuple(ids))
        self._brands = brands if brand_patterns else None
        self._keywords = keywords if keyword_patterns else None
        if self._brands is not None:
            brands.make_automaton()
        if self._keywords is not None:
            keywords.make_automaton()
        self._short_brands = short_brands
        self._cache: OrderedDict[str, NameMatch | None] = OrderedDict()

    def match_names(self, names: Sequence[str]) -> list[NameMatch]:
        """The names (one certificate's) that match any watch, one per registrable domain."""
        by_domain: dict[str, NameMatch] = {}
        for raw in names:
            found = self.match_name(raw)
            if found is None:
                continue
            known = by_domain.get(found.registrable)
            if known is None:
                by_domain[found.registrable] = found
            else:
                watched = {r.watch_id for r in known.reasons}
                extra = tuple(r for r in found.reasons if r.watch_id not in watched)
                by_domain[found.registrable] = NameMatch(known.name, known.registrable, known.reasons + extra)
        return list(by_domain.values())

    def match_name(self, raw: str) -> NameMatch | None:
        name = normalise_seen_name(raw)
        if name in self._cache:
            self._cache.move_to_end(name)
            return self._cache[name]
        found = self._match(name)
        self._cache[name] = found
        if len(self._cache) > CACHE_NAMES:
            self._cache.popitem(last=False)
        return found

    def _match(self, name: str) -> NameMatch | None:
        registrable = registrable_domain(name) if name else None
        if registrable is None:
            return None
        reasons: dict[int, Reason] = {}

        def keep(reason: Reason) -> None:
            if self._own.get(reason.watch_id) != registrable:
                reasons.setdefault(reason.watch_id, reason)

        for reason in self._exact.get(registrable, ()):
            keep(reason)
        decoded = decode_name(name)
        if self._skeletons:
            # The registrable domain is its label and the public suffix: the label is its first.
            label = decode_name(registrable.partition(".")[0])
            shape = skeleton(label)
            for key in _deletions(shape, watch=True):
                for watch_id, brand_label, brand_shape in self._skeletons.get(key, ()):
                    if watch_id in reasons:
                        continue
                    rule = _close_rule(label, shape, brand_label, brand_shape)
                    if rule is not None:
                        keep(Reason(watch_id, rule, brand_label))
        if self._brands is not None or self._short_brands:
            name_skeleton = skeleton(decoded)
            if self._brands is not None:
                for _, owners in self._brands.iter(name_skeleton):
                    for watch_id, brand_label in owners:
                        keep(Reason(watch_id, "contains", brand_label))
            if self._short_brands:
                for word in name_skeleton.replace(".", "-").split("-"):
                    for watch_id in self._short_brands.get(word, ()):
                        keep(Reason(watch_id, "contains", word))
        if self._keywords is not None:
            for _, ids in self._keywords.iter(fold_unicode(decoded)):
                for watch_id in ids:
                    reasons.setdefault(watch_id, Reason(watch_id, "keyword", self.watches[watch_id].term))
        if not reasons:
            return None
        return NameMatch(name, registrable, tuple(sorted(reasons.values(), key=lambda r: r.watch_id)))


def _deletions(text: str, *, watch: bool) -> list[str]:
    """`text` and, when `watch`, every string one deletion from it (repeats possible)."""
    if not watch:
        return [text]
    return [text, *(text[:i] + text[i + 1 :] for i in range(len(text)))]


def _close_rule(label: str, shape: str, brand_label: str, brand_shape: str) -> str | None:
    """tld-swap, homoglyph or edit when `label` is that close to the brand; None otherwise."""
    if label == brand_label:
        return "tld-swap"
    if shape == brand_shape:
        return "homoglyph"
    if len(brand_shape) >= MIN_EDIT_BRAND and _within_one_edit(shape, brand_shape):
        return "edit"
    return None


def _within_one_edit(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or swap of neighbours between a and b."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]
