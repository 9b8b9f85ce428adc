/* The REP protocol's ops, which RESPONDENT shares (survey/respondent.c):
   both answer each request on the pipe it came from. */
#ifndef SP_REP_H
#define SP_REP_H

#include "protocol.h"

extern const struct sp_proto_ops sp_rep_ops;

#endif
