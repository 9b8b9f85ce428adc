/* Library-wide state shared by the core files: whether endpoint errors are
   printed (NN_PRINT_ERRORS, read when the socket table is created). */
#ifndef SP_GLOBAL_H
#define SP_GLOBAL_H

#include <stdbool.h>

extern bool sp_print_errors;

#endif
