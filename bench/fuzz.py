"""The long fuzz run: many generated and mutated specs through load_spec, validate and build.

Counts how many inputs were tried, how many built, how many were refused with a located
SpecError, and any other outcome (a crash: another exception, or an error without a place).
Usage, from the project root:

    python bench/fuzz.py [--examples 2000] [--build-examples 300]

Results go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from spec_strategies import mutated, spec_text, specs  # noqa: E402

from layerkit import SpecError, SpecErrors, build, load_spec, validate  # noqa: E402

OUTCOMES: collections.Counter[str] = collections.Counter()
CRASHES: list[str] = []


def run_one(kind: str, text: str, build_too: bool) -> None:
    try:
        plan = validate(load_spec(text))
        if build_too and len(plan.layers) <= 30:
            build(plan)
            OUTCOMES[f"{kind}: built"] += 1
        else:
            OUTCOMES[f"{kind}: validated"] += 1
    except SpecErrors as errors:
        located = all(error.location is not None for error in errors.errors)
        OUTCOMES[f"{kind}: refused with a place" if located else f"{kind}: CRASH (no place)"] += 1
    except SpecError as error:
        OUTCOMES[
            f"{kind}: refused with a place" if error.location else f"{kind}: CRASH (no place)"
        ] += 1
    except Exception as error:  # anything else is a finding
        OUTCOMES[f"{kind}: CRASH"] += 1
        CRASHES.append(f"{kind}: {type(error).__name__}: {error}\n{text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--build-examples", type=int, default=300)
    args = parser.parse_args()

    def quiet(examples: int) -> settings:
        return settings(max_examples=examples, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))  # fmt: skip

    started = time.perf_counter()

    @quiet(args.examples)
    @given(specs())
    def generated(document):
        run_one("generated", spec_text(document), build_too=False)

    @quiet(args.build_examples)
    @given(specs())
    def generated_built(document):
        run_one("generated, built", spec_text(document), build_too=True)

    sources = {
        name: (ROOT / "specs" / name).read_text() for name in ("cifar.yaml", "resnet50.yaml")
    }
    jobs = [generated, generated_built]

    def mutations(name: str, text: str, examples: int, build_too: bool):
        @quiet(examples)
        @given(mutated(text))
        def mutate(mutant):
            run_one(f"mutated {name}" + (", built" if build_too else ""), mutant, build_too)

        return mutate

    jobs += [mutations(name, text, args.examples, False) for name, text in sources.items()]
    jobs.append(mutations("cifar.yaml", sources["cifar.yaml"], args.build_examples, True))
    for job in jobs:
        job()
    seconds = time.perf_counter() - started
    print("| input | outcome | count |\n|---|---|---:|")
    for key, count in sorted(OUTCOMES.items()):
        kind, outcome = key.split(": ", 1)
        print(f"| {kind} | {outcome} | {count} |")
    print(f"\n{sum(OUTCOMES.values())} inputs in {seconds:.0f} s; crashes: {len(CRASHES)}")
    for crash in CRASHES[:10]:
        print("\n" + crash)


if __name__ == "__main__":
    main()
