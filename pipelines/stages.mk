# The pipeline's stages, shared by voc.mk and cityscapes.mk (which set the defaults first):
# shards → split → run → evaluation → pseudo-labels, as file targets under $(CACHE).
.DELETE_ON_ERROR:
.SUFFIXES:
SHELL := /bin/bash

SUPERVISED := $(filter sup-%,$(MODELS))
NAMES      := $(if $(SUPERVISED),$(patsubst sup-%,%,$(MODELS)),$(subst +, ,$(MODELS)))
MODEL_CONFIGS := $(foreach n,$(NAMES),$(or $(CONFIG_$(n)),$(error unknown model '$(n)' in MODELS=$(MODELS))))
SPLIT_NAME := $(notdir $(SPLIT))
SHARDS     := $(CACHE)/shards/manifest.json
# A drawn split is named by its seed (SPLIT_SEED, default SEED); an imported partition is not.
SPLIT_SEED ?= $(SEED)
SPLIT_DIR  := $(CACHE)/splits/$(SPLIT_NAME)$(if $(wildcard $(SPLIT)/labeled.txt),,-s$(SPLIT_SEED))
RUN        := $(CACHE)/runs/$(MODELS)-$(SPLIT_NAME)-crop$(CROP)-s$(SEED)
LAST_MODEL := m$(words $(NAMES))

# Pretrained backbones: PRETRAINED lists mK=FILE; PRETRAINED_DIR is a folder of <model name>.safetensors
# (slot K gets its model's file unless PRETRAINED names slot K). Every such file is a prerequisite of
# the run, and dcot-train hashes it, so new weights retrain the runs that use them.
SLOTS          := $(wordlist 1,$(words $(NAMES)),1 2 3)
PRE_EXPLICIT   := $(foreach p,$(PRETRAINED),$(firstword $(subst =, ,$(p))))
PRE_FROM_DIR   := $(if $(PRETRAINED_DIR),$(foreach i,$(SLOTS),$(if $(filter m$(i),$(PRE_EXPLICIT)),,m$(i)=$(PRETRAINED_DIR)/$(word $(i),$(NAMES)).safetensors)))
PRETRAINED_ALL := $(PRETRAINED) $(PRE_FROM_DIR)
PRETRAINED_FILES := $(foreach p,$(PRETRAINED_ALL),$(word 2,$(subst =, ,$(p))))

# The supervised baseline runs at SUP_BATCH_SCALE x the per-GPU batch (BATCH, else the config's
# batch_size): the reference README doubles batch_size for SupOnly at the semi-supervised GPU count,
# keeping the lr. SUP_BATCH_SCALE=1 trains it at the co-training batch instead.
SUP_BATCH_SCALE ?= 2
CONFIG_BATCH := $(shell sed -n 's/^batch_size:[[:space:]]*\([0-9][0-9]*\).*/\1/p' $(firstword $(MODEL_CONFIGS)))
RUN_BATCH    := $(if $(SUPERVISED),$(shell echo $$(( $(SUP_BATCH_SCALE) * $(or $(BATCH),$(CONFIG_BATCH),4) ))),$(BATCH))

split_args = $(if $(wildcard $(SPLIT)/labeled.txt),--import $(SPLIT),$(if $(findstring _,$(SPLIT)),--fraction $(SPLIT),--labeled $(SPLIT) $(if $(BASE_LIST),--base $(BASE_LIST))))

.PHONY: all shards split run eval pseudo report clean-run
all: eval pseudo
shards: $(SHARDS)
split: $(SPLIT_DIR)/labeled.txt
run: $(RUN)/done.json
eval: $(RUN)/eval.done
pseudo: $(RUN)/pseudo/manifest.json

$(SHARDS): $(TRAIN_LIST) $(VAL_LIST)
	$(BIN)/dcot-prep --dataset $(DATASET) --root $(ROOT) --list $(TRAIN_LIST) --list $(VAL_LIST) \
	    --out $(dir $@) --dct --jobs $(THREADS) --quiet

$(SPLIT_DIR)/labeled.txt: $(TRAIN_LIST) $(VAL_LIST) $(if $(findstring _,$(SPLIT)),,$(BASE_LIST))
	$(BIN)/dcot-split --dataset $(DATASET) --root $(ROOT) --list $(TRAIN_LIST) --val $(VAL_LIST) \
	    $(split_args) --seed $(SPLIT_SEED) --out $(SPLIT_DIR)

$(RUN)/done.json: $(SHARDS) $(SPLIT_DIR)/labeled.txt $(MODEL_CONFIGS) $(PRETRAINED_FILES)
	$(BIN)/dcot-train $(foreach c,$(MODEL_CONFIGS),--config $(c)) --shards $(CACHE)/shards \
	    --labeled $(SPLIT_DIR)/labeled.txt $(if $(SUPERVISED),,--unlabeled $(SPLIT_DIR)/unlabeled.txt) \
	    --val $(VAL_LIST) --out $(RUN) --crop $(CROP) --threshold $(THR) --gpus $(GPUS) $(if $(RUN_BATCH),--batch-size $(RUN_BATCH)) --threads $(THREADS) \
	    --seed $(SEED) $(if $(ITERS),--iterations $(ITERS)) $(if $(EPOCHS),--epochs $(EPOCHS)) \
	    $(if $(VAL_LIMIT),--val-limit $(VAL_LIMIT)) $(if $(EVAL_EVERY),--eval-every $(EVAL_EVERY)) $(foreach p,$(PRETRAINED_ALL),--pretrained $(p)) --restart-if-changed

# Every co-trained model's best checkpoint, evaluated (metrics.json format, protocol included).
$(RUN)/eval.done: $(RUN)/done.json
	set -e; i=0; for c in $(MODEL_CONFIGS); do i=$$((i + 1)); \
	    $(BIN)/dcot-eval --config $$c --checkpoint $(RUN)/best-m$$i.safetensors --shards $(CACHE)/shards $(EVAL_ARGS) \
	        --list $(VAL_LIST) --out $(RUN)/eval-m$$i.json --overlays $(RUN)/overlays-m$$i --quiet > $(RUN)/eval-m$$i.txt; done
	touch $@

$(RUN)/pseudo/manifest.json: $(RUN)/done.json
	$(BIN)/dcot-pseudo --config $(lastword $(MODEL_CONFIGS)) --checkpoint $(RUN)/best-$(LAST_MODEL).safetensors $(EVAL_ARGS) \
	    --shards $(CACHE)/shards --list $(SPLIT_DIR)/unlabeled.txt \
	    --out $(RUN)/pseudo --threshold $(PSEUDO_THR) --quiet

# A report (tables, curves, overlays; dcot-report) of every evaluated run under $(CACHE)/runs, or of
# REPORT_RUNS (run directories), titled REPORT_TITLE with an optional REPORT_NOTE line. It is rebuilt
# when a run is re-evaluated or when the list of runs or the title changes (recorded in $(REPORT).args).
REPORT       ?= $(CACHE)/report.md
REPORT_RUNS  ?= $(patsubst %/eval.done,%,$(wildcard $(CACHE)/runs/*/eval.done))
REPORT_TITLE ?= dcot runs under $(CACHE)
REPORT_NOTE  ?=
REPORT_ARGS  := $(strip $(REPORT_RUNS)) | $(REPORT_TITLE) | $(REPORT_NOTE)
ifneq ($(filter report,$(MAKECMDGOALS)),)
$(shell mkdir -p $(dir $(REPORT)) && { [ "$$(cat $(REPORT).args 2>/dev/null)" = '$(REPORT_ARGS)' ] || printf '%s\n' '$(REPORT_ARGS)' > $(REPORT).args; })
endif
report: $(REPORT)
$(REPORT): $(addsuffix /eval.done,$(REPORT_RUNS)) $(REPORT).args
	$(if $(REPORT_RUNS),,$(error no evaluated runs under $(CACHE)/runs: run 'make eval' first or set REPORT_RUNS))
	$(BIN)/dcot-report --out $@ --title "$(REPORT_TITLE)" $(if $(REPORT_NOTE),--note "$(REPORT_NOTE)") $(REPORT_RUNS)

clean-run:
	rm -rf $(RUN)

