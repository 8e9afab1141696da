"""Field agreement of the WHOIS parser with the reply table in tests/data/whois/ and of the
RDAP normaliser with tests/data/rdap/, per TLD family: `python -m bench.whois_agreement`."""

from __future__ import annotations

from bot.monitoring.sources.rdap_domains import domain_facts, registrant_facts
from bot.monitoring.sources.whois import parse_whois
from tests.fakes.whois_corpus import field_agreement, load_cases, load_rdap_cases, rdap_agreement


def main() -> None:
    figures = {f"{family} via WHOIS": a for family, a in field_agreement(load_cases(), parse_whois).items()}
    figures.update(rdap_agreement(load_rdap_cases(), domain_facts, registrant_facts))
    for family, agreement in sorted(figures.items()):
        print(
            f"{family}: {agreement.agreed}/{agreement.compared} fields agree ({agreement.share:.1%}); "
            f"{agreement.records_right}/{agreement.records} records entirely right"
            + (f"; wrong: {', '.join(agreement.wrong)}" if agreement.wrong else "")
        )


if __name__ == "__main__":
    main()
