# Cityscapes pipeline (stages in pipelines/stages.mk): the same targets as voc.mk with Cityscapes
# defaults: lists of leftImg8bit images with gtFine *_labelTrainIds.png (taken as they are) or raw
# *_labelIds.png (mapped to the 19 train ids by dcot-prep), crop 769, OHEM configs, 8 emulated GPUs
# of batch 1, sliding-window evaluation (769/512 pixel windows paired with 193/128 DCT windows).
#
#   make -f pipelines/cityscapes.mk all CS_ROOT=data/cityscapes SPLIT=1_8 MODELS=segformer-b3+r101-dct \
#        PRETRAINED="m1=weights/mit_b3.safetensors m2=weights/resnet101_dct_64.safetensors"
#
# SPLIT: 1_30 1_16 1_8 1_4 (fractions of TRAIN_LIST, rounded up) or a published partition directory.

BIN        ?= .build/release
DATASET    := cityscapes
CS_ROOT    ?= data/cityscapes
TRAIN_LIST ?= $(CS_ROOT)/train.txt
VAL_LIST   ?= $(CS_ROOT)/val.txt
BASE_LIST  ?=
SPLIT      ?= 1_8
CROP       ?= 769
MODELS     ?= segformer-b3+r101-dct
THR        ?= 0.0
ITERS      ?=
EPOCHS     ?=
GPUS       ?= 8
BATCH      ?=
THREADS    ?= $(shell nproc)
SEED       ?= 0
PRETRAINED ?=
PRETRAINED_DIR ?=
VAL_LIMIT  ?=
EVAL_EVERY ?=
PSEUDO_THR ?= 0.0
CACHE      ?= cache/cityscapes
CONFIGS    ?= pipelines/configs/cityscapes
ROOT       := $(CS_ROOT)
EVAL_ARGS  ?= --mode sliding_window --crop $(CROP) --crop-dct $$(( ($(CROP) + 3) / 4 ))

CONFIG_r50           := $(CONFIGS)/r50_8x1.yaml
CONFIG_r101          := $(CONFIGS)/r101_8x1.yaml
CONFIG_r50-dct       := $(CONFIGS)/r50_dct_8x1.yaml
CONFIG_r101-dct      := $(CONFIGS)/r101_dct_8x1.yaml
CONFIG_segformer-b2  := $(CONFIGS)/segformerb2_8x1.yaml
CONFIG_segformer-b3  := $(CONFIGS)/segformerb3_8x1.yaml

# make compare: the paper's comparison (Cityscapes rows at the R101 scale, in table order).
COMPARE_METHODS ?= sup-r101 r101+r101 r101+r101+r101 mt-r101 cutmix-r101 stpp-r101 r101+r101-dct r101+r101-dct+segformer-b3

include pipelines/stages.mk
