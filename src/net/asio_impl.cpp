// The one translation unit that compiles Asio's non-template code.
#include <asio/impl/src.hpp>
