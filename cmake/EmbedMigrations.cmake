# Writes OUTPUT, a C++ file defining forum::kMigrations from the SQL files in
# MIGRATIONS_DIR (named NNNN_name.sql, applied in order). Run at build time.
file(GLOB files "${MIGRATIONS_DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME_WE)
  string(REGEX MATCH "^[0-9]+" version "${name}")
  # Without its leading zeros: C++ reads 0008 as a (bad) octal literal.
  string(REGEX REPLACE "^0+([0-9])" "\\1" version "${version}")
  file(READ "${f}" sql)
  string(APPEND body "    {${version}, \"${name}\", R\"mfsql(${sql})mfsql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from forum/migrations/*.sql by cmake/EmbedMigrations.cmake. Do not edit.\n#include \"forum/migrations.h\"\n\nnamespace forum {\n\nconst std::vector<Migration>& Migrations() {\n  static const std::vector<Migration> kMigrations = {\n${body}  };\n  return kMigrations;\n}\n\n}  // namespace forum\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
