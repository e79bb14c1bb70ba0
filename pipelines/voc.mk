# Pascal VOC pipeline (stages in pipelines/stages.mk): shards → split → run → evaluation →
# pseudo-labels, as file targets under $(CACHE). `make -f pipelines/voc.mk all` runs everything; a second run does nothing; changing a
# config or a split retrains only what depends on it (dcot-train --restart-if-changed). Every stage
# writes its outputs atomically and its marker file last, and .DELETE_ON_ERROR removes a target
# whose recipe failed, so an interrupted make never leaves a target that looks done.
#
#   make -f pipelines/voc.mk all VOC_ROOT=data/VOC SPLIT=1_16 MODELS=segformer-b2+r50-dct \
#        PRETRAINED="m1=weights/mit_b2.safetensors m2=weights/resnet50_dct_64.safetensors"
#
# The reference's 513 runs use 8 GPUs x 2: CROP=513 GPUS=8 BATCH=2.
# SPLIT: 92 183 366 732 1464 (labeled drawn from BASE_LIST), 1_32 1_16 1_8 1_4 (fractions of
# TRAIN_LIST), or a directory holding a published partition (labeled.txt [+ unlabeled.txt]).
# MODELS: model names joined by '+' (2 or 3 = co-training, in slot order; slot 2 is the DCT model in
# the reference's pairings), or sup-<name> for the supervised baseline.

BIN        ?= .build/release
DATASET    ?= pascal
VOC_ROOT   ?= data/VOC
TRAIN_LIST ?= $(VOC_ROOT)/train_aug.txt
VAL_LIST   ?= $(VOC_ROOT)/val.txt
BASE_LIST  ?= $(VOC_ROOT)/train.txt
SPLIT      ?= 1_16
CROP       ?= 321
MODELS     ?= segformer-b2+r50-dct
THR        ?= 0.0
ITERS      ?=
EPOCHS     ?=
GPUS       ?= 4
BATCH      ?=
THREADS    ?= $(shell nproc)
SEED       ?= 0
PRETRAINED ?=
PRETRAINED_DIR ?=
VAL_LIMIT  ?=
EVAL_EVERY ?=
PSEUDO_THR ?= 0.0
CACHE      ?= cache/voc
CONFIGS    ?= pipelines/configs/voc

ROOT       := $(VOC_ROOT)
EVAL_ARGS  ?=

# Model names → configs.
CONFIG_r50           := $(CONFIGS)/r50_4x4.yaml
CONFIG_r101          := $(CONFIGS)/r101_4x4.yaml
CONFIG_r50-dct       := $(CONFIGS)/r50_dct_4x4.yaml
CONFIG_segformer-b2  := $(CONFIGS)/segformerb2_4x4.yaml
CONFIG_r101-dct      := $(CONFIGS)/r101_dct_4x4.yaml
CONFIG_segformer-b3  := $(CONFIGS)/segformerb3_4x4.yaml
DEMO_CONFIGS ?= pipelines/configs/demo
CONFIG_cnn           := $(DEMO_CONFIGS)/cnn-rgb.yaml
CONFIG_cnn-dct       := $(DEMO_CONFIGS)/cnn-dct.yaml
CONFIG_mit           := $(DEMO_CONFIGS)/mit.yaml

# make compare: the paper's comparison at the R101 scale (the table's rows in order).
COMPARE_METHODS ?= sup-r101 r101+r101 r101+r101+r101 mt-r101 cutmix-r101 stpp-r101 r101+r101-dct r101+r101-dct+segformer-b3

include pipelines/stages.mk

# ---- the demo: a miniature of the paper's first table on the embedded dataset ----------------------
# SupOnly (CNN-RGB), CPS (two CNN-RGB: homogeneous) and 2-cps (CNN-RGB + CNN-DCT) at DEMO_LABELS
# labels, SEEDS repeats, and SupOnly with every label (DEMO_FULL: the supervised ceiling); 3-cps
# (cnn+cnn-dct+mit) is one DEMO_METHODS entry away.
# Like the paper's models, every backbone starts pretrained on other data: here DEMO_PRE_CLASSES-class
# scenes whose object classes are disjoint from the demo's (dcot-synth --class-offset), standing in
# for ImageNet. The dataset is DEMO_CLASSES classes from catalogue class DEMO_OFFSET + 1 on, at
# DEMO_SIZE px, drawn with DEMO_DATA_SEED; demo-check runs the same recipe on other such datasets.
DEMO_LABELS  ?= 8
DEMO_FULL    ?= sup-cnn
DEMO_ITERS   ?= 600
DEMO_BATCH   ?= 4
DEMO_METHODS ?= sup-cnn cnn+cnn cnn+cnn-dct
DEMO_THR     ?= 0.95
# Extra dcot-train flags of the demo's co-training runs (CPS, 2-cps, 3-cps), recorded in
# $(DEMO)/cps.args so that changing them reruns those runs: every model keeps an EMA teacher (decay
# 0.99) whose pseudo-labels teach its partners, against the collapse to background that plain CPS
# shows at 8 labels (README "Demo"; decay 0.95 before the DCT stand-in's 8,000 iterations, when a
# slower teacher lagged the DCT model's start). Empty: the reference's co-training.
DEMO_CPS_FLAGS ?= --ema-teachers --ema-decay 0.99
DEMO_EVAL_EVERY ?= 50
DEMO_TRAIN   ?= 400
DEMO_VAL     ?= 100
DEMO_CLASSES ?= 3
DEMO_OFFSET  ?= 0
DEMO_DATA_SEED ?= 0
DEMO_SIZE    ?= 96
DEMO_CROP    ?= 96
DEMO_PRE_TRAIN ?= 800
DEMO_PRE_CLASSES ?= 5
DEMO_PRE_OFFSET ?= 2
DEMO_PRE_SIZE ?= 96
DEMO_PRE_CROP ?= 64
DEMO_PRE_ITERS ?= 2000
DEMO_PRE_EVAL_EVERY ?= 500
# Extra dcot-synth flags of the pretraining set (e.g. --no-decoys); a new value needs a new DEMO_PRE.
DEMO_PRE_SYNTH_FLAGS ?=
# Training seed of the pretraining runs (empty: dcot-train's default, 0). Another value draws other
# stand-ins from the same data, to see how much a result owes to one draw (README "Demo").
DEMO_PRE_SEED ?=
# Per-model pretraining schedule and crop (DEMO_PRE_ITERS_<model>, DEMO_PRE_CROP_<model>; empty: the
# shared value above). The models learn the pretraining task at different speeds; see README "Demo"
# (2,000 iterations: CNN-RGB 65.3 % at crop 64, CNN-DCT 43.4 % at crop 64 and 52.6 % at crop 96;
# MiT 55.3 % at 6,000 iterations, crop 64, and 58.3-60.7 % at crop 96, 65.9 % at 10,000). The DCT
# CNN (width 0.75) ends its 8,000 crop-96 iterations at 71.9 %, at least level with the RGB CNN
# (66.5 %), as the paper's DCT-domain ImageNet weights are with the RGB ones; in co-training it then
# keeps up with its RGB partner (README "Demo").
DEMO_PRE_ITERS_cnn ?=
DEMO_PRE_ITERS_cnn-dct ?= 8000
DEMO_PRE_ITERS_mit ?= 10000
DEMO_PRE_CROP_cnn ?=
DEMO_PRE_CROP_cnn-dct ?= 96
DEMO_PRE_CROP_mit ?= 96
SEEDS        ?= 0
DEMO         ?= cache/demo
DEMO_SETUP   ?= Scripts/setup
DEMO_PRE     ?= $(DEMO)/pretrain
# The runs' configs are the demo configs at the dataset's class count, in $(DEMO)/configs; sub-makes
# get them as DEMO_CONFIGS and the sources as DEMO_SOURCE_CONFIGS (which pretraining depends on).
DEMO_SOURCE_CONFIGS ?= $(DEMO_CONFIGS)
DEMO_RUN_CONFIGS := $(DEMO)/configs
DEMO_MODELS   = $(sort $(subst +, ,$(patsubst sup-%,%,$(DEMO_METHODS) $(DEMO_FULL))))
DEMO_CONFIG_FILES = $(foreach m,$(DEMO_MODELS),$(DEMO_RUN_CONFIGS)/$(notdir $(CONFIG_$(m))))
DEMO_VARS     = BIN=$(BIN) DATASET=generic VOC_ROOT=$(DEMO)/synth TRAIN_LIST=$(DEMO)/synth/train.txt \
                VAL_LIST=$(DEMO)/synth/val.txt BASE_LIST= CROP=$(DEMO_CROP) GPUS=1 BATCH=$(DEMO_BATCH) ITERS=$(DEMO_ITERS) CACHE=$(DEMO) \
                THREADS=$(THREADS) SPLIT_SEED=0 THR=$(DEMO_THR) EVAL_EVERY=$(DEMO_EVAL_EVERY) PRETRAINED_DIR=$(DEMO_PRE) \
                DEMO_CONFIGS=$(DEMO_RUN_CONFIGS) DEMO_SOURCE_CONFIGS=$(DEMO_SOURCE_CONFIGS) \
                CPS_FLAGS="$(DEMO_CPS_FLAGS)" CPS_DEPS=$(DEMO)/cps.args
# (method, labels) pairs: every method at every DEMO_LABELS count, DEMO_FULL with all DEMO_TRAIN labels.
DEMO_PAIRS    = $(foreach n,$(DEMO_LABELS),$(foreach m,$(DEMO_METHODS),$(m):$(n))) $(foreach m,$(DEMO_FULL),$(m):$(DEMO_TRAIN))
DEMO_RUNS     = $(foreach s,$(SEEDS),$(foreach p,$(DEMO_PAIRS),$(DEMO)/runs/$(word 1,$(subst :, ,$(p)))-$(word 2,$(subst :, ,$(p)))-crop$(DEMO_CROP)-s$(s)))

.PHONY: demo demo-check
demo: $(DEMO)/synth/train.txt $(DEMO_CONFIG_FILES) $(foreach m,$(DEMO_MODELS),$(DEMO_PRE)/$(m).safetensors)
	set -e; for seed in $(SEEDS); do for p in $(DEMO_PAIRS); do \
	    $(MAKE) --no-print-directory -f pipelines/voc.mk eval $(DEMO_VARS) SPLIT=$${p#*:} MODELS=$${p%%:*} SEED=$$seed; \
	done; done
	$(MAKE) --no-print-directory -f pipelines/voc.mk report $(DEMO_VARS) REPORT=$(DEMO)/report.md REPORT_RUNS="$(DEMO_RUNS)" \
	    REPORT_TITLE="dcot demo: SupOnly vs CPS vs diverse co-training on $(DEMO_CLASSES)-class synthetic scenes" \
	    REPORT_NOTE="Small models (pipelines/configs/demo) with backbones pretrained on disjoint synthetic classes; dataset: $(DEMO_CLASSES) classes from catalogue class $(DEMO_OFFSET) + 1, $(DEMO_SIZE) px, data seed $(DEMO_DATA_SEED), $(DEMO_TRAIN) train / $(DEMO_VAL) val; $(DEMO_ITERS) iterations, crop $(DEMO_CROP), threshold $(DEMO_THR); training seeds $(SEEDS), labeled subsets drawn with seed 0; the $(DEMO_TRAIN) column is SupOnly with every label."
	@echo "demo: the report, with curves and overlays, is $(DEMO)/report.md"

$(DEMO)/synth/train.txt:
	$(DEMO_SETUP)
	$(BIN)/dcot-synth --out $(DEMO)/synth --train $(DEMO_TRAIN) --val $(DEMO_VAL) --classes $(DEMO_CLASSES) \
	    $(if $(filter-out 0,$(DEMO_OFFSET)),--class-offset $(DEMO_OFFSET)) --size $(DEMO_SIZE) --seed $(DEMO_DATA_SEED) --quiet

$(DEMO_RUN_CONFIGS)/%.yaml: $(DEMO_SOURCE_CONFIGS)/%.yaml
	mkdir -p $(dir $@)
	sed 's/^nclass: .*/nclass: $(DEMO_CLASSES)/' $< > $@.tmp && mv $@.tmp $@

# The pretraining data: DEMO_PRE_CLASSES - 1 catalogue classes from DEMO_PRE_OFFSET + 1 on (the demo's
# classes appear only as decoys labelled background), other images (seed 100); each demo model trains
# on it (nclass DEMO_PRE_CLASSES), and its last checkpoint is the backbone every demo run of that
# model starts from.
$(DEMO_PRE)/synth/train.txt:
	$(DEMO_SETUP)
	$(BIN)/dcot-synth --out $(DEMO_PRE)/synth --train $(DEMO_PRE_TRAIN) --val 100 --classes $(DEMO_PRE_CLASSES) \
	    --class-offset $(DEMO_PRE_OFFSET) --size $(DEMO_PRE_SIZE) --seed 100 $(DEMO_PRE_SYNTH_FLAGS) --quiet

$(DEMO_PRE)/shards/manifest.json: $(DEMO_PRE)/synth/train.txt
	$(BIN)/dcot-prep --dataset generic --root $(DEMO_PRE)/synth --list $< --list $(DEMO_PRE)/synth/val.txt \
	    --out $(dir $@) --dct --jobs $(THREADS) --quiet

.SECONDEXPANSION:
.SECONDARY: $(foreach m,$(DEMO_MODELS),$(DEMO_PRE)/$(m).yaml)
$(DEMO_PRE)/%.yaml: $(DEMO_SOURCE_CONFIGS)/$$(notdir $$(CONFIG_$$*))
	sed 's/^nclass: .*/nclass: $(DEMO_PRE_CLASSES)/' $< > $@.tmp && mv $@.tmp $@

# A model's pretraining settings are recorded in $(DEMO_PRE)/<model>.args, rewritten only when they
# change, so that changing them retrains that model's backbone (and, through it, its runs).
demo_pre_args = --crop $(or $(DEMO_PRE_CROP_$(1)),$(DEMO_PRE_CROP)) --iterations $(or $(DEMO_PRE_ITERS_$(1)),$(DEMO_PRE_ITERS))$(if $(DEMO_PRE_SEED), --seed $(DEMO_PRE_SEED))
ifneq ($(filter demo demo-check demo-compare,$(MAKECMDGOALS)),)
$(shell mkdir -p $(DEMO_PRE))
define demo_pre_record
ifneq ($$(file <$(DEMO_PRE)/$(1).args),$(call demo_pre_args,$(1)))
$$(file >$(DEMO_PRE)/$(1).args,$(call demo_pre_args,$(1)))
endif
endef
$(foreach m,cnn cnn-dct mit,$(eval $(call demo_pre_record,$(m))))
endif
ifneq ($(filter demo demo-compare,$(MAKECMDGOALS)),)
$(shell mkdir -p $(DEMO))
ifneq ($(file <$(DEMO)/cps.args),co-training flags: $(DEMO_CPS_FLAGS))
$(file >$(DEMO)/cps.args,co-training flags: $(DEMO_CPS_FLAGS))
endif
endif
$(DEMO_PRE)/%.args: ;

$(DEMO_PRE)/%.safetensors: $(DEMO_PRE)/%.yaml $(DEMO_PRE)/shards/manifest.json $(DEMO_PRE)/%.args
	@echo "demo: pretraining the $* stand-in ($(call demo_pre_args,$*)), once per cache; on a 2-core Zen 5 about 1.5 min (cnn), 10 (cnn-dct), 4 (mit); on a Zen 4 about 2 and 15 for the CNNs"
	$(BIN)/dcot-train --config $< --shards $(DEMO_PRE)/shards --labeled $(DEMO_PRE)/synth/train.txt \
	    --val $(DEMO_PRE)/synth/val.txt --out $(DEMO_PRE)/run-$* $(call demo_pre_args,$*) --gpus 1 \
	    --eval-every $(DEMO_PRE_EVAL_EVERY) --threads $(THREADS) --log-every 100 --restart-if-changed
	cp $(DEMO_PRE)/run-$*/latest-m1.safetensors $@.tmp && mv $@.tmp $@

# ---- the comparison in miniature: every method on the demo's data at its lowest label count ---------
DEMO_COMPARE_METHODS ?= sup-cnn cnn+cnn cnn+cnn+cnn mt-cnn cutmix-cnn stpp-cnn cnn+cnn-dct cnn+cnn-dct+mit
.PHONY: demo-compare
demo-compare: $(DEMO)/synth/train.txt $(foreach m,cnn cnn-dct mit,$(DEMO_RUN_CONFIGS)/$(notdir $(CONFIG_$(m))) $(DEMO_PRE)/$(m).safetensors)
	$(MAKE) --no-print-directory -f pipelines/voc.mk compare $(DEMO_VARS) SPLIT=$(firstword $(DEMO_LABELS)) SEEDS="$(SEEDS)" \
	    COMPARE_METHODS="$(DEMO_COMPARE_METHODS)" COMPARE_REPORT=$(DEMO)/compare.md \
	    COMPARE_TITLE="dcot demo: the paper's comparison on the embedded dataset, $(firstword $(DEMO_LABELS)) labels" \
	    COMPARE_NOTE="Small models (pipelines/configs/demo), backbones pretrained on disjoint synthetic classes; $(DEMO_ITERS) iterations per run (ST++: per stage), crop $(DEMO_CROP), co-training threshold $(DEMO_THR), MT/CutMix-Seg threshold $(TEACHER_THR) and EMA decay $(EMA_DECAY); training seeds $(SEEDS), labeled subset drawn with seed 0."

# ---- demo-check: the demo's recipe, unchanged, on other synthetic datasets -------------------------
# Each DEMO_CHECKS entry names the dataset variables that differ from the demo's (class count and
# catalogue offset, disjoint from the pretraining classes; image size; data seed); the backbones are
# the demo's pretrained ones. Reports: $(DEMO_CHECK_DIR)/<name>/report.md; summary.md puts their
# first tables together. The first three were looked at while the recipe was chosen (README "Demo");
# k3-off6-104px was added after the EMA-teacher recipe was fixed and nothing was chosen by looking at it.
DEMO_CHECK_DIR ?= $(DEMO)-check
DEMO_CHECKS ?= c4-off12 c3-off16-128px h4-off8-112px k3-off6-104px
DEMO_CHECK_c4-off12 ?= DEMO_CLASSES=4 DEMO_OFFSET=12 DEMO_DATA_SEED=1
DEMO_CHECK_c3-off16-128px ?= DEMO_CLASSES=3 DEMO_OFFSET=16 DEMO_SIZE=128 DEMO_DATA_SEED=2
DEMO_CHECK_h4-off8-112px ?= DEMO_CLASSES=4 DEMO_OFFSET=8 DEMO_SIZE=112 DEMO_DATA_SEED=3
DEMO_CHECK_k3-off6-104px ?= DEMO_CLASSES=3 DEMO_OFFSET=6 DEMO_SIZE=104 DEMO_DATA_SEED=4
demo-check: $(foreach m,$(DEMO_MODELS),$(DEMO_PRE)/$(m).safetensors)
	set -e; $(foreach c,$(DEMO_CHECKS),$(MAKE) --no-print-directory -f pipelines/voc.mk demo DEMO=$(DEMO_CHECK_DIR)/$(c) \
	    DEMO_PRE=$(DEMO_PRE) $(DEMO_CHECK_$(c));)
	{ echo "# dcot demo-check: the demo's recipe on other synthetic datasets"; \
	  $(foreach c,$(DEMO_CHECKS),echo; echo "## $(c) ($(DEMO_CHECK_$(c)))"; echo; \
	      awk '/^\|/ { t = 1; print; next } t { exit }' $(DEMO_CHECK_DIR)/$(c)/report.md;) } > $(DEMO_CHECK_DIR)/summary.md.tmp
	mv $(DEMO_CHECK_DIR)/summary.md.tmp $(DEMO_CHECK_DIR)/summary.md
	@echo "demo-check: $(DEMO_CHECK_DIR)/summary.md (reports in $(DEMO_CHECK_DIR)/<dataset>/report.md)"
