#include <fstream>
#include <sstream>

#include "engine/common/error.h"
#include "server/cli/commands.h"

namespace xq::cli {

std::string ReadTextFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(flag + ": cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace xq::cli
