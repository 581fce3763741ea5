// mailforumd: the email-to-forum gateway daemon. Thin: see daemon/app.h.
#include "daemon/app.h"

int main(int argc, char** argv) { return mailforumd::Main(argc, argv, {}); }
