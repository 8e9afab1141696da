"""Field agreement of the WHOIS parser with the reply table in tests/data/whois/, per TLD
family: `python -m bench.whois_agreement`."""

from __future__ import annotations

from bot.monitoring.sources.whois import parse_whois
from tests.fakes.whois_corpus import field_agreement, load_cases


def main() -> None:
    cases = load_cases()
    for family, agreement in sorted(field_agreement(cases, parse_whois).items()):
        print(
            f"{family}: {agreement.agreed}/{agreement.compared} fields agree ({agreement.share:.1%}); "
            f"{agreement.records_right}/{agreement.records} records entirely right"
            + (f"; wrong: {', '.join(agreement.wrong)}" if agreement.wrong else "")
        )


if __name__ == "__main__":
    main()
