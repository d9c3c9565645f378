// The checks every runner makes before a step: BatchInputs that do not describe a valid step
// of this model over this KV layout throw xq::Error ("batch inputs: ...") before any kernel
// reads them (a bad block id would otherwise write outside the arena).
#pragma once

#include "engine/model/model_config.h"
#include "engine/runner/batch_inputs.h"
#include "engine/runner/model_runner.h"

namespace xq {

void ValidateBatchInputs(const BatchInputs& in, const ModelConfig& config, const KvConfig& kv);

// AllocateKv's check: the layout has the model's layers, KV heads and head_dim.
void ValidateKvConfig(const KvConfig& kv, const ModelConfig& config);

}  // namespace xq
