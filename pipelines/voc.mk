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
# SupOnly (CNN-RGB) vs 2-cps (CNN-RGB + CNN-DCT) vs 3-cps (+ MiT) at two label counts, SEEDS repeats.
# Like the paper's models, every backbone starts pretrained on other data: here 9-class scenes whose
# object classes are disjoint from the demo's (dcot-synth --class-offset), standing in for ImageNet.
DEMO_LABELS  ?= 25 100
DEMO_ITERS   ?= 300
DEMO_METHODS ?= sup-cnn cnn+cnn-dct cnn+cnn-dct+mit
DEMO_THR     ?= 0.95
DEMO_EVAL_EVERY ?= 50
DEMO_TRAIN   ?= 400
DEMO_VAL     ?= 100
DEMO_SIZE    ?= 96
DEMO_CROP    ?= 64
DEMO_PRE_TRAIN ?= 800
DEMO_PRE_ITERS ?= 600
SEEDS        ?= 0
DEMO         ?= cache/demo
DEMO_SETUP   ?= Scripts/setup
DEMO_PRE     := $(DEMO)/pretrain
DEMO_MODELS   = $(sort $(subst +, ,$(patsubst sup-%,%,$(DEMO_METHODS))))
DEMO_VARS     = BIN=$(BIN) DATASET=generic VOC_ROOT=$(DEMO)/synth TRAIN_LIST=$(DEMO)/synth/train.txt \
                VAL_LIST=$(DEMO)/synth/val.txt BASE_LIST= CROP=$(DEMO_CROP) GPUS=1 ITERS=$(DEMO_ITERS) CACHE=$(DEMO) \
                THREADS=$(THREADS) SPLIT_SEED=0 THR=$(DEMO_THR) EVAL_EVERY=$(DEMO_EVAL_EVERY) PRETRAINED_DIR=$(DEMO_PRE) DEMO_CONFIGS=$(DEMO_CONFIGS)
DEMO_RUNS     = $(foreach s,$(SEEDS),$(foreach n,$(DEMO_LABELS),$(foreach m,$(DEMO_METHODS),$(DEMO)/runs/$(m)-$(n)-crop$(DEMO_CROP)-s$(s))))

.PHONY: demo
demo: $(DEMO)/synth/train.txt $(foreach m,$(DEMO_MODELS),$(DEMO_PRE)/$(m).safetensors)
	set -e; for seed in $(SEEDS); do for n in $(DEMO_LABELS); do for m in $(DEMO_METHODS); do \
	    $(MAKE) --no-print-directory -f pipelines/voc.mk eval $(DEMO_VARS) SPLIT=$$n MODELS=$$m SEED=$$seed; \
	done; done; done
	$(MAKE) --no-print-directory -f pipelines/voc.mk report $(DEMO_VARS) REPORT=$(DEMO)/report.md REPORT_RUNS="$(DEMO_RUNS)" \
	    REPORT_TITLE="dcot demo: SupOnly vs diverse co-training on the embedded dataset" \
	    REPORT_NOTE="Small models (pipelines/configs/demo) with backbones pretrained on disjoint synthetic classes; $(DEMO_ITERS) iterations, crop $(DEMO_CROP), threshold $(DEMO_THR), $(DEMO_VAL) validation images; training seeds $(SEEDS), labeled subsets drawn with seed 0."
	@echo "demo: the report, with curves and overlays, is $(DEMO)/report.md"

$(DEMO)/synth/train.txt:
	$(DEMO_SETUP)
	$(BIN)/dcot-synth --out $(DEMO)/synth --train $(DEMO_TRAIN) --val $(DEMO_VAL) --classes 3 --size $(DEMO_SIZE) --seed 0 --quiet

# The pretraining data: catalogue classes 3..10 (the demo's classes 1 and 2 appear only as decoys
# labelled background), other images (seed 100); each demo model trains on it with nclass 9, and its
# best checkpoint is the backbone every demo run of that model starts from.
$(DEMO_PRE)/synth/train.txt:
	$(DEMO_SETUP)
	$(BIN)/dcot-synth --out $(DEMO_PRE)/synth --train $(DEMO_PRE_TRAIN) --val 100 --classes 9 --class-offset 2 \
	    --size $(DEMO_SIZE) --seed 100 --quiet

$(DEMO_PRE)/shards/manifest.json: $(DEMO_PRE)/synth/train.txt
	$(BIN)/dcot-prep --dataset generic --root $(DEMO_PRE)/synth --list $< --list $(DEMO_PRE)/synth/val.txt \
	    --out $(dir $@) --dct --jobs $(THREADS) --quiet

.SECONDEXPANSION:
.SECONDARY: $(foreach m,$(DEMO_MODELS),$(DEMO_PRE)/$(m).yaml)
$(DEMO_PRE)/%.yaml: $$(CONFIG_$$*)
	sed 's/^nclass: .*/nclass: 9/' $< > $@.tmp && mv $@.tmp $@

$(DEMO_PRE)/%.safetensors: $(DEMO_PRE)/%.yaml $(DEMO_PRE)/shards/manifest.json
	$(BIN)/dcot-train --config $< --shards $(DEMO_PRE)/shards --labeled $(DEMO_PRE)/synth/train.txt \
	    --val $(DEMO_PRE)/synth/val.txt --out $(DEMO_PRE)/run-$* --crop $(DEMO_CROP) --gpus 1 \
	    --iterations $(DEMO_PRE_ITERS) --eval-every $(DEMO_PRE_ITERS) --threads $(THREADS) --log-every 100 --restart-if-changed
	cp $(DEMO_PRE)/run-$*/latest-m1.safetensors $@.tmp && mv $@.tmp $@

# ---- the comparison in miniature: every method on the demo's data at its lowest label count ---------
DEMO_COMPARE_METHODS ?= sup-cnn cnn+cnn cnn+cnn+cnn mt-cnn cutmix-cnn stpp-cnn cnn+cnn-dct cnn+cnn-dct+mit
.PHONY: demo-compare
demo-compare: $(DEMO)/synth/train.txt $(foreach m,cnn cnn-dct mit,$(DEMO_PRE)/$(m).safetensors)
	$(MAKE) --no-print-directory -f pipelines/voc.mk compare $(DEMO_VARS) SPLIT=$(firstword $(DEMO_LABELS)) SEEDS="$(SEEDS)" \
	    COMPARE_METHODS="$(DEMO_COMPARE_METHODS)" COMPARE_REPORT=$(DEMO)/compare.md \
	    COMPARE_TITLE="dcot demo: the paper's comparison on the embedded dataset, $(firstword $(DEMO_LABELS)) labels" \
	    COMPARE_NOTE="Small models (pipelines/configs/demo), backbones pretrained on disjoint synthetic classes; $(DEMO_ITERS) iterations per run (ST++: per stage), crop $(DEMO_CROP), co-training threshold $(DEMO_THR), MT/CutMix-Seg threshold $(TEACHER_THR) and EMA decay $(EMA_DECAY); training seeds $(SEEDS), labeled subset drawn with seed 0."
