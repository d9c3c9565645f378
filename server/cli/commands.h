// Subcommands of the xquant executable; each registers its options and callback on the app.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace xq::cli {

void AddGenerateCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddEvalCommand(CLI::App& app);
void AddServeCommand(CLI::App& app);
void AddTuneCommand(CLI::App& app);
void AddHealthCommand(CLI::App& app);

// Applies --threads to the compute pool and OpenBLAS (0 = the CPUs this process may use: its affinity,
// capped by a cgroup CPU quota).
void SetThreads(int threads);

// The whole file at `path`; throws xq::Error naming `flag` when it cannot be read.
std::string ReadTextFile(const std::string& path, const std::string& flag);

}  // namespace xq::cli
