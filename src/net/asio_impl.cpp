// The one translation unit that compiles Asio's non-template code, its TLS part included.
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
