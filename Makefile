# Developer targets for the compiled core (fraudscore/_core). See docs/compiled.md.
PYTHON ?= python

.PHONY: ext asan fuzz clean-ext

ext:  ## build the C extension in place (what pip install -e does)
	$(PYTHON) -m pip install --no-deps -e .

asan:  ## build with AddressSanitizer + UBSan in a scratch copy and run the parity tests against it
	PYTHON=$(PYTHON) bash scripts/sanitize.sh

fuzz:  ## differential fuzzing of the compiled store against the Python reference (FUZZ_SECONDS=60)
	$(PYTHON) scripts/fuzz_core.py --seconds $${FUZZ_SECONDS:-60}

clean-ext:
	rm -f fraudscore/_core/*.so
