// xq::Error: the exception thrown at boundaries (model files, configs, requests) with a message
// that names the file and the field. Inner invariants use assert instead.
#pragma once

#include <stdexcept>
#include <string>

namespace xq {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace xq
