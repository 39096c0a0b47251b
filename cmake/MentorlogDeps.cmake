# Third-party dependencies, all from Debian packages (scripts/setup installs them).
# Each becomes an imported target named dep::<name>.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(SODIUM    REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(SQLITE3   REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBUV     REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
add_library(dep::sodium    ALIAS PkgConfig::SODIUM)
add_library(dep::sqlite3   ALIAS PkgConfig::SQLITE3)
add_library(dep::uv        ALIAS PkgConfig::LIBUV)
add_library(dep::protobufc ALIAS PkgConfig::PROTOBUFC)

find_program(PROTOC_C protoc-c REQUIRED)

pkg_check_modules(LIBPQ IMPORTED_TARGET libpq)
if(LIBPQ_FOUND)
  add_library(dep::pq ALIAS PkgConfig::LIBPQ)
endif()

if(ML_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  add_library(dep::cmocka ALIAS PkgConfig::CMOCKA)
endif()

# --- llhttp: Debian's node-llhttp installs its C sources; we compile them. ---
set(ML_LLHTTP_SRC_DIR "/usr/share/llhttp" CACHE PATH "llhttp C sources (node-llhttp)")
set(ML_LLHTTP_INC_DIR "/usr/share/include/llhttp" CACHE PATH "llhttp header (node-llhttp)")
if(NOT EXISTS ${ML_LLHTTP_SRC_DIR}/llhttp.c OR NOT EXISTS ${ML_LLHTTP_INC_DIR}/llhttp.h)
  message(FATAL_ERROR "llhttp sources not found in ${ML_LLHTTP_SRC_DIR}: "
                      "install Debian's node-llhttp (scripts/setup does)")
endif()
add_library(ml_llhttp STATIC
  ${ML_LLHTTP_SRC_DIR}/llhttp.c ${ML_LLHTTP_SRC_DIR}/api.c ${ML_LLHTTP_SRC_DIR}/http.c)
target_include_directories(ml_llhttp SYSTEM PUBLIC ${ML_LLHTTP_INC_DIR})
target_compile_options(ml_llhttp PRIVATE -w)
add_library(dep::llhttp ALIAS ml_llhttp)

# --- mbedTLS 3.6 (DESIGN §8): a system copy >= 3.6 when present, otherwise
# the static libraries that scripts/setup unpacked from Debian trixie. ---
function(ml_mbedtls_version_of incdir outvar)
  set(${outvar} "" PARENT_SCOPE)
  if(EXISTS ${incdir}/mbedtls/build_info.h)
    file(STRINGS ${incdir}/mbedtls/build_info.h line
         REGEX "#define MBEDTLS_VERSION_STRING +\"[0-9.]+\"")
    string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" v "${line}")
    set(${outvar} "${v}" PARENT_SCOPE)
  endif()
endfunction()

set(_mbed_candidates)
if(ML_MBEDTLS_ROOT)
  list(APPEND _mbed_candidates ${ML_MBEDTLS_ROOT})
endif()
list(APPEND _mbed_candidates /usr ${CMAKE_SOURCE_DIR}/build/deps/mbedtls/usr)
set(ML_MBEDTLS_PREFIX "")
foreach(p ${_mbed_candidates})
  ml_mbedtls_version_of(${p}/include v)
  if(v AND v VERSION_GREATER_EQUAL 3.6)
    find_library(_mbedtls_a   NAMES libmbedtls.a   PATHS ${p}/lib ${p}/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH)
    find_library(_mbedx509_a  NAMES libmbedx509.a  PATHS ${p}/lib ${p}/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH)
    find_library(_mbedcrypto_a NAMES libmbedcrypto.a PATHS ${p}/lib ${p}/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH)
    if(_mbedtls_a AND _mbedx509_a AND _mbedcrypto_a)
      set(ML_MBEDTLS_PREFIX ${p})
      set(ML_MBEDTLS_VERSION ${v})
      break()
    endif()
    unset(_mbedtls_a CACHE)
    unset(_mbedx509_a CACHE)
    unset(_mbedcrypto_a CACHE)
  endif()
endforeach()
if(NOT ML_MBEDTLS_PREFIX)
  message(FATAL_ERROR "mbedTLS >= 3.6 not found. Run scripts/setup (it fetches "
                      "Debian trixie's packages into build/deps/mbedtls), or set ML_MBEDTLS_ROOT.")
endif()
message(STATUS "mbedTLS ${ML_MBEDTLS_VERSION} from ${ML_MBEDTLS_PREFIX} (static)")
add_library(dep::mbedtls INTERFACE IMPORTED)
target_include_directories(dep::mbedtls SYSTEM INTERFACE ${ML_MBEDTLS_PREFIX}/include)
target_link_libraries(dep::mbedtls INTERFACE ${_mbedtls_a} ${_mbedx509_a} ${_mbedcrypto_a})

# --- lib25519 (Ed25519 verification, protocol/src/crypto_verify.c): a system
# copy when present, otherwise the static libraries that scripts/setup
# unpacked from Debian trixie. OFF builds verify with libsodium alone (e.g. a
# mobile build of libmentorlog); acceptance is the same either way. ---
option(ML_LIB25519 "Verify Ed25519 signatures with lib25519 (1.6x faster than libsodium)" ON)
if(ML_LIB25519)
  set(_l25519_candidates)
  if(ML_LIB25519_ROOT)
    list(APPEND _l25519_candidates ${ML_LIB25519_ROOT})
  endif()
  list(APPEND _l25519_candidates /usr ${CMAKE_SOURCE_DIR}/build/deps/lib25519/usr)
  set(ML_LIB25519_PREFIX "")
  foreach(p ${_l25519_candidates})
    if(EXISTS ${p}/include/lib25519.h)
      find_library(_l25519_a NAMES lib25519.a PATHS ${p}/lib ${p}/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH)
      find_library(_randombytes_a NAMES librandombytes-kernel.a PATHS ${p}/lib ${p}/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH)
      if(_l25519_a AND _randombytes_a)
        set(ML_LIB25519_PREFIX ${p})
        break()
      endif()
      unset(_l25519_a CACHE)
      unset(_randombytes_a CACHE)
    endif()
  endforeach()
  if(NOT ML_LIB25519_PREFIX)
    message(FATAL_ERROR "lib25519 not found. Run scripts/setup (it fetches Debian trixie's "
                        "packages into build/deps/lib25519), set ML_LIB25519_ROOT, or configure "
                        "with -DML_LIB25519=OFF to verify with libsodium alone.")
  endif()
  message(STATUS "lib25519 from ${ML_LIB25519_PREFIX} (static)")
  add_library(dep::lib25519 INTERFACE IMPORTED)
  target_include_directories(dep::lib25519 SYSTEM INTERFACE ${ML_LIB25519_PREFIX}/include)
  target_link_libraries(dep::lib25519 INTERFACE ${_l25519_a} ${_randombytes_a})
  target_compile_definitions(dep::lib25519 INTERFACE MLPROTO_HAVE_LIB25519=1)
endif()
