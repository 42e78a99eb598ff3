// Training: optimizers, schedules and stages, the trainer, fit, metrics.
#pragma once

#include "graft/train/batch.hpp"
#include "graft/train/fit.hpp"
#include "graft/train/metrics.hpp"
#include "graft/train/optimizer.hpp"
#include "graft/train/schedule.hpp"
#include "graft/train/trainer.hpp"
