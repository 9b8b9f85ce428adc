/* The RESPONDENT side of surveys. A survey carries its backtrace (the path
   and the survey id) as a request does, and a response returns it as a
   reply does, so the REP ops serve it unchanged (reqrep/rep.c). */
#include <nanomsg/nn.h>
#include <nanomsg/survey.h>

#include "protocol.h"
#include "reqrep/rep.h"

const struct sp_socktype sp_respondent_socktype = {AF_SP, NN_RESPONDENT, 0, NN_SURVEYOR, "respondent", &sp_rep_ops};
const struct sp_socktype sp_xrespondent_socktype = {AF_SP_RAW, NN_RESPONDENT, 0, NN_SURVEYOR, "respondent",
                                                    &sp_rep_ops};
