# Pascal VOC pipeline (stages in pipelines/stages.mk): shards → split → run → evaluation →
# pseudo-labels, as file targets under $(CACHE). `make -f pipelines/voc.mk all` runs everything; a second run does nothing; changing a
# config or a split retrains only what depends on it (dcot-train --restart-if-changed). Every stage
# writes its outputs atomically and its marker file last, and .DELETE_ON_ERROR removes a target
# whose recipe failed, so an interrupted make never leaves a target that looks done.
#
#   make -f pipelines/voc.mk all VOC_ROOT=data/VOC SPLIT=1_16 MODELS=segformer-b2+r50-dct \
#        PRETRAINED="m1=weights/mit_b2.safetensors m2=weights/resnet50_dct_64.safetensors"
#
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
THREADS    ?= $(shell nproc)
SEED       ?= 0
PRETRAINED ?=
VAL_LIMIT  ?=
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
DEMO_CONFIGS ?= pipelines/configs/demo
CONFIG_cnn           := $(DEMO_CONFIGS)/cnn-rgb.yaml
CONFIG_cnn-dct       := $(DEMO_CONFIGS)/cnn-dct.yaml
CONFIG_mit           := $(DEMO_CONFIGS)/mit.yaml

include pipelines/stages.mk

# ---- the demo: a miniature of the paper's first table on the embedded dataset ----------------------
# SupOnly (CNN-RGB) vs 2-cps (CNN-RGB + CNN-DCT) vs 3-cps (+ MiT) at two label counts, SEEDS repeats.
DEMO_LABELS ?= 25 100
DEMO_ITERS  ?= 300
DEMO_METHODS ?= sup-cnn cnn+cnn-dct cnn+cnn-dct+mit
SEEDS       ?= 0
DEMO        := cache/demo
DEMO_VARS    = BIN=$(BIN) DATASET=generic VOC_ROOT=$(DEMO)/synth TRAIN_LIST=$(DEMO)/synth/train.txt \
               VAL_LIST=$(DEMO)/synth/val.txt BASE_LIST= CROP=64 GPUS=1 ITERS=$(DEMO_ITERS) CACHE=$(DEMO) THREADS=$(THREADS)

.PHONY: demo demo-runs
demo: $(DEMO)/report.md
	cat $<

$(DEMO)/synth/train.txt:
	Scripts/setup
	$(BIN)/dcot-synth --out $(DEMO)/synth --train 400 --val 100 --classes 3 --size 96 --seed 0 --quiet

$(DEMO)/report.md: $(DEMO)/synth/train.txt $(wildcard $(DEMO_CONFIGS)/*.yaml)
	set -e; for seed in $(SEEDS); do for n in $(DEMO_LABELS); do for m in $(DEMO_METHODS); do \
	    $(MAKE) --no-print-directory -f pipelines/voc.mk eval $(DEMO_VARS) SPLIT=$$n MODELS=$$m SEED=$$seed; \
	done; done; done
	Scripts/demo-report $(DEMO) "$(DEMO_LABELS)" "$(DEMO_METHODS)" "$(SEEDS)" 64 > $@.tmp && mv $@.tmp $@
