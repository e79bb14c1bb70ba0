# The pipeline's stages, shared by voc.mk and cityscapes.mk (which set the defaults first):
# shards → split → run → evaluation → pseudo-labels, as file targets under $(CACHE).
.DELETE_ON_ERROR:
.SUFFIXES:
SHELL := /bin/bash

# MODELS names a method: model names joined by '+' (2 or 3: cross pseudo supervision; equal names
# are homogeneous CPS / 3-CPS, different ones diverse 2-/3-cps), or one model behind a method prefix:
# sup- (SupOnly), mt- (Mean Teacher), cutmix- (CutMix-Seg), stpp- (ST++, a chain of runs below).
PREFIX     := $(firstword $(filter sup stpp mt cutmix,$(firstword $(subst -, ,$(MODELS)))))
SUPERVISED := $(filter sup stpp,$(PREFIX))
TEACHER    := $(filter mt cutmix,$(PREFIX))
RUN_CPS    := $(if $(SUPERVISED)$(TEACHER),,yes)
NAMES      := $(if $(PREFIX),$(patsubst $(PREFIX)-%,%,$(MODELS)),$(subst +, ,$(MODELS)))
MODEL_CONFIGS := $(foreach n,$(NAMES),$(or $(CONFIG_$(n)),$(error unknown model '$(n)' in MODELS=$(MODELS))))
# The models dcot-train checkpoints and make evaluates: the configs, then the EMA teachers' (Mean
# Teacher / CutMix-Seg's one; one per model for co-training runs with --ema-teachers in CPS_FLAGS).
EVAL_CONFIGS  := $(MODEL_CONFIGS) $(if $(TEACHER)$(and $(RUN_CPS),$(findstring --ema-teachers,$(CPS_FLAGS))),$(MODEL_CONFIGS))
SPLIT_NAME := $(notdir $(SPLIT))
SHARDS     := $(CACHE)/shards/manifest.json
# A drawn split is named by its seed (SPLIT_SEED, default SEED); an imported partition is not.
SPLIT_SEED ?= $(SEED)
SPLIT_DIR  := $(CACHE)/splits/$(SPLIT_NAME)$(if $(wildcard $(SPLIT)/labeled.txt),,-s$(SPLIT_SEED))
RUN        := $(CACHE)/runs/$(MODELS)-$(SPLIT_NAME)-crop$(CROP)-s$(SEED)
LAST_MODEL := m$(words $(EVAL_CONFIGS))

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

# Mean Teacher and CutMix-Seg: French et al.'s confidence threshold and EMA decay (cutmix-semisup-seg
# defaults); the co-training methods use THR.
TEACHER_THR ?= 0.97
EMA_DECAY   ?= 0.99
RUN_THR     := $(if $(TEACHER),$(TEACHER_THR),$(THR))

split_args = $(if $(wildcard $(SPLIT)/labeled.txt),--import $(SPLIT),$(if $(findstring _,$(SPLIT)),--fraction $(SPLIT),--labeled $(SPLIT) $(if $(BASE_LIST),--base $(BASE_LIST))))

.PHONY: all shards split run eval pseudo report compare clean-run
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

# LAUNCH: a launcher in front of dcot-train, dcot-eval and dcot-pseudo, e.g. LAUNCH="mpirun -np 4
# --hostfile hosts" or LAUNCH="srun --mpi=pmix -n 4"; THREADS is then per rank. The ranks split GPUS
# replicas (a rank count must divide GPUS) and evaluation lists; results do not depend on LAUNCH.
LAUNCH ?=
# CPS_FLAGS: extra dcot-train flags of the co-training (cps) runs only, e.g. --distribution-alignment;
# CPS_DEPS: files those runs also depend on (the demo records its CPS_FLAGS in one, so changing them
# reruns the runs).
CPS_FLAGS ?=
CPS_DEPS  ?=
TRAIN = $(LAUNCH) $(BIN)/dcot-train $(foreach c,$(MODEL_CONFIGS),--config $(c)) --shards $(CACHE)/shards --val $(VAL_LIST) \
	    $(if $(RUN_CPS),$(CPS_FLAGS)) \
	    --crop $(CROP) --threshold $(RUN_THR) --gpus $(GPUS) $(if $(RUN_BATCH),--batch-size $(RUN_BATCH)) --threads $(THREADS) \
	    --seed $(SEED) $(if $(ITERS),--iterations $(ITERS)) $(if $(EPOCHS),--epochs $(EPOCHS)) \
	    $(if $(VAL_LIMIT),--val-limit $(VAL_LIMIT)) $(if $(EVAL_EVERY),--eval-every $(EVAL_EVERY)) $(foreach p,$(PRETRAINED_ALL),--pretrained $(p)) --restart-if-changed
# STOP_AFTER=N: the run stops with a checkpoint after N iterations (done.json is not written, so the
# next make resumes it): time-boxed jobs, and the resume tests.
STOP_ARGS = $(if $(STOP_AFTER),--stop-after $(STOP_AFTER))
PSEUDO = $(LAUNCH) $(BIN)/dcot-pseudo --config $(firstword $(MODEL_CONFIGS)) $(EVAL_ARGS) --shards $(CACHE)/shards --quiet

ifeq ($(PREFIX),stpp)
# ST++ (Yang et al., CVPR 2022): a supervised teacher saving 3 snapshots (1/3, 2/3, end) → rank the
# unlabeled images by the stability of the snapshots' predictions and pseudo-label them with the
# teacher's best checkpoint → retrain on labeled + the reliable half (strong augmentation on the
# pseudo-labelled images) → re-label the unreliable half with that model → retrain on everything.
# Every retraining starts again from the pretrained backbone; the last one is the run ($(RUN)).
ST := $(RUN)-stages
$(ST)/teacher/done.json: $(SHARDS) $(SPLIT_DIR)/labeled.txt $(MODEL_CONFIGS) $(PRETRAINED_FILES)
	$(TRAIN) --labeled $(SPLIT_DIR)/labeled.txt --out $(@D) --snapshots 3
$(ST)/select/manifest.json: $(ST)/teacher/done.json
	$(PSEUDO) --checkpoint $(ST)/teacher/best-m1.safetensors --list $(SPLIT_DIR)/unlabeled.txt --out $(@D) \
	    $$(ls $(ST)/teacher/snapshot-m1-it*.safetensors | sort -V | sed 's/^/--stability /')
$(ST)/round1/done.json: $(ST)/select/manifest.json
	cat $(SPLIT_DIR)/labeled.txt $(ST)/select/reliable.txt > $(ST)/round1.txt.tmp && mv $(ST)/round1.txt.tmp $(ST)/round1.txt
	$(TRAIN) --labeled $(ST)/round1.txt --pseudo $(ST)/select --strong-pseudo --out $(@D)
$(ST)/relabel/manifest.json: $(ST)/round1/done.json
	$(PSEUDO) --checkpoint $(ST)/round1/best-m1.safetensors --list $(ST)/select/unreliable.txt --out $(@D)
$(RUN)/done.json: $(ST)/relabel/manifest.json
	cat $(SPLIT_DIR)/labeled.txt $(SPLIT_DIR)/unlabeled.txt > $(ST)/round2.txt.tmp && mv $(ST)/round2.txt.tmp $(ST)/round2.txt
	$(TRAIN) --labeled $(ST)/round2.txt --pseudo $(ST)/relabel --pseudo $(ST)/select --strong-pseudo --out $(RUN) $(STOP_ARGS)
else
$(RUN)/done.json: $(SHARDS) $(SPLIT_DIR)/labeled.txt $(MODEL_CONFIGS) $(PRETRAINED_FILES) $(if $(RUN_CPS),$(CPS_DEPS))
	$(TRAIN) --labeled $(SPLIT_DIR)/labeled.txt $(if $(SUPERVISED),,--unlabeled $(SPLIT_DIR)/unlabeled.txt) --out $(RUN) \
	    $(if $(TEACHER),--mode $(TEACHER) --ema-decay $(EMA_DECAY)) $(STOP_ARGS)
endif

# Every trained model's best checkpoint (an EMA teacher's last), evaluated (metrics.json format, protocol included).
$(RUN)/eval.done: $(RUN)/done.json
	set -e; i=0; for c in $(EVAL_CONFIGS); do i=$$((i + 1)); \
	    $(LAUNCH) $(BIN)/dcot-eval --config $$c --checkpoint $(RUN)/best-m$$i.safetensors --shards $(CACHE)/shards $(EVAL_ARGS) \
	        --list $(VAL_LIST) --out $(RUN)/eval-m$$i.json --overlays $(RUN)/overlays-m$$i --quiet > $(RUN)/eval-m$$i.txt; done
	touch $@

$(RUN)/pseudo/manifest.json: $(RUN)/done.json
	$(LAUNCH) $(BIN)/dcot-pseudo --config $(lastword $(EVAL_CONFIGS)) --checkpoint $(RUN)/best-$(LAST_MODEL).safetensors $(EVAL_ARGS) \
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
# (make's own file functions: a title or note with quotes never meets a shell)
ifneq ($(filter report,$(MAKECMDGOALS)),)
$(shell mkdir -p $(dir $(REPORT)))
ifneq ($(file <$(REPORT).args),$(REPORT_ARGS))
$(file >$(REPORT).args,$(REPORT_ARGS))
endif
endif
report: $(REPORT)
$(REPORT): $(addsuffix /eval.done,$(REPORT_RUNS)) $(REPORT).args
	$(if $(REPORT_RUNS),,$(error no evaluated runs under $(CACHE)/runs: run 'make eval' first or set REPORT_RUNS))
	$(BIN)/dcot-report --out $@ --title "$(REPORT_TITLE)" $(if $(REPORT_NOTE),--note "$(REPORT_NOTE)") $(REPORT_RUNS)

# The paper's comparison: every method of COMPARE_METHODS (MODELS strings, in table order) on one
# split (drawn once, with SPLIT_SEED) for every training seed of SEEDS, then one report whose first
# table names the methods as the paper does (SupOnly, CPS, 3-CPS, MT, CutMix-Seg, ST++, 2-cps, 3-cps).
SEEDS          ?= $(SEED)
COMPARE_REPORT ?= $(CACHE)/compare-$(SPLIT_NAME).md
COMPARE_RUNS    = $(foreach s,$(SEEDS),$(foreach m,$(COMPARE_METHODS),$(CACHE)/runs/$(m)-$(SPLIT_NAME)-crop$(CROP)-s$(s)))
compare:
	$(if $(COMPARE_METHODS),,$(error set COMPARE_METHODS, e.g. "sup-r101 r101+r101 mt-r101 r101+r101-dct"))
	set -e; for seed in $(SEEDS); do for m in $(COMPARE_METHODS); do \
	    $(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) eval MODELS=$$m SEED=$$seed SPLIT_SEED=$(SPLIT_SEED); \
	done; done
	$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) report REPORT=$(COMPARE_REPORT) REPORT_RUNS="$(COMPARE_RUNS)" \
	    SPLIT_SEED=$(SPLIT_SEED) REPORT_TITLE="$(or $(COMPARE_TITLE),Semi-supervised methods on split $(SPLIT_NAME))" REPORT_NOTE="$(COMPARE_NOTE)"
	@echo "compare: $(COMPARE_REPORT)"

clean-run:
	rm -rf $(RUN) $(RUN)-stages

