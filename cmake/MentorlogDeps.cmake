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

# libpq: the server's PostgreSQL store (sync-server/src/store_pg*.c) and its tests.
pkg_check_modules(LIBPQ IMPORTED_TARGET libpq)
if(NOT LIBPQ_FOUND)
  message(FATAL_ERROR "libpq (the PostgreSQL client library) not found by pkg-config: "
                      "install Debian's libpq-dev (scripts/setup does)")
endif()
add_library(dep::pq ALIAS PkgConfig::LIBPQ)

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

# ml_static_libs(<prefix> <out> <file>...): the full paths of the static
# libraries <file>... under <prefix>/lib/<multiarch> or <prefix>/lib, or ""
# unless every one is there.
function(ml_static_libs prefix out)
  set(paths)
  foreach(f ${ARGN})
    set(hit "")
    foreach(d ${prefix}/lib/${CMAKE_LIBRARY_ARCHITECTURE} ${prefix}/lib)
      if(NOT hit AND EXISTS ${d}/${f})
        set(hit ${d}/${f})
      endif()
    endforeach()
    if(NOT hit)
      set(${out} "" PARENT_SCOPE)
      return()
    endif()
    list(APPEND paths ${hit})
  endforeach()
  set(${out} "${paths}" PARENT_SCOPE)
endfunction()

set(ML_MBEDTLS_PREFIX "")
foreach(p ${ML_MBEDTLS_ROOT} /usr ${CMAKE_SOURCE_DIR}/build/deps/mbedtls/usr)
  ml_mbedtls_version_of(${p}/include v)
  if(v AND v VERSION_GREATER_EQUAL 3.6)
    ml_static_libs(${p} _mbed_libs libmbedtls.a libmbedx509.a libmbedcrypto.a)
    if(_mbed_libs)
      set(ML_MBEDTLS_PREFIX ${p})
      set(ML_MBEDTLS_VERSION ${v})
      break()
    endif()
  endif()
endforeach()
if(NOT ML_MBEDTLS_PREFIX)
  message(FATAL_ERROR "mbedTLS >= 3.6 not found. Run scripts/setup (it fetches "
                      "Debian trixie's packages into build/deps/mbedtls), or set ML_MBEDTLS_ROOT.")
endif()
message(STATUS "mbedTLS ${ML_MBEDTLS_VERSION} from ${ML_MBEDTLS_PREFIX} (static)")
add_library(dep::mbedtls INTERFACE IMPORTED)
target_include_directories(dep::mbedtls SYSTEM INTERFACE ${ML_MBEDTLS_PREFIX}/include)
target_link_libraries(dep::mbedtls INTERFACE ${_mbed_libs})

# --- lib25519 (Ed25519 verification, protocol/src/crypto_verify.c): a system
# copy when present, otherwise the static libraries that scripts/setup
# unpacked from Debian trixie. OFF builds verify with libsodium alone (e.g. a
# mobile build of libmentorlog); acceptance is the same either way. ---
option(ML_LIB25519 "Verify Ed25519 signatures with lib25519 (1.6x faster than libsodium)" ON)
if(ML_LIB25519)
  set(ML_LIB25519_PREFIX "")
  foreach(p ${ML_LIB25519_ROOT} /usr ${CMAKE_SOURCE_DIR}/build/deps/lib25519/usr)
    if(EXISTS ${p}/include/lib25519.h)
      ml_static_libs(${p} _l25519_libs lib25519.a librandombytes-kernel.a)
      if(_l25519_libs)
        set(ML_LIB25519_PREFIX ${p})
        break()
      endif()
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
  target_link_libraries(dep::lib25519 INTERFACE ${_l25519_libs})
  target_compile_definitions(dep::lib25519 INTERFACE MLPROTO_HAVE_LIB25519=1)
endif()
