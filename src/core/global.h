/* Library-wide state shared by the core files: whether endpoint errors are
   printed (NN_PRINT_ERRORS, read when the socket table is created), and the
   socket table's answers to the core files that work through the public
   calls. */
#ifndef SP_GLOBAL_H
#define SP_GLOBAL_H

#include <stdbool.h>

extern bool sp_print_errors;

struct sp_socktype;

/* The type of socket s, for nn_device, which works through the public calls
   but needs to know it: 0, or -EBADF. */
int sp_global_socktype(int s, const struct sp_socktype **type);

#endif
