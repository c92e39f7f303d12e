/* C client of toolcalld: a one-shot call, then a registered toolset with a call, and a
 * session on it with a turn, a reset and another turn.
 *   cc toolcall_example.c $(pkg-config --cflags --libs toolcall) -o toolcall_example
 *   ./toolcall_example ADDRESS TOOLS_JSON_FILE "QUERY"
 * ADDRESS is a D-Bus address, or "session" / "system". Each answer is printed as one JSON
 * line; a failure prints "step: ERROR_NAME: message" and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolcall.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) { free(text); text = NULL; }
    if (text) text[n] = '\0';
    fclose(f);
    return text;
}

/* Prints an answer and frees it; on NULL reports the error. Returns 0 on an answer. */
static int answer(const char *step, char *result, const toolcall_error *error) {
    if (!result) {
        fprintf(stderr, "%s: %s: %s\n", step, error->name, error->message);
        return 1;
    }
    printf("%s\n", result);
    toolcall_string_free(result);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s ADDRESS|session|system TOOLS_JSON_FILE QUERY\n", argv[0]);
        return 2;
    }
    char *tools = read_file(argv[2]);
    if (!tools) { perror(argv[2]); return 2; }

    int bus = TOOLCALL_BUS_ADDRESS;
    if (strcmp(argv[1], "session") == 0) bus = TOOLCALL_BUS_SESSION;
    if (strcmp(argv[1], "system") == 0) bus = TOOLCALL_BUS_SYSTEM;

    toolcall_error error = {0};
    toolcall_client *client = toolcall_connect(bus, argv[1], &error);
    if (!client) {
        fprintf(stderr, "connect: %s: %s\n", error.name, error.message);
        toolcall_error_clear(&error);
        free(tools);
        return 3;
    }
    const char *options = "{\"max_new_tokens\": 64}";
    int failed = answer("call", toolcall_call(client, tools, argv[3], options, &error), &error);

    toolcall_toolset *toolset = failed ? NULL : toolcall_toolset_register(client, tools, &error);
    if (!failed && !toolset) {
        fprintf(stderr, "register: %s: %s\n", error.name, error.message);
        failed = 1;
    }
    toolcall_session *session = NULL;
    if (!failed) failed = answer("toolset call", toolcall_toolset_call(toolset, argv[3], options, &error), &error);
    if (!failed) {
        session = toolcall_session_open(toolset, &error);
        if (!session) {
            fprintf(stderr, "open session: %s: %s\n", error.name, error.message);
            failed = 1;
        }
    }
    if (!failed) failed = answer("send", toolcall_session_send(session, argv[3], options, &error), &error);
    if (!failed && toolcall_session_reset(session, &error) != 0) {
        fprintf(stderr, "reset: %s: %s\n", error.name, error.message);
        failed = 1;
    }
    if (!failed) failed = answer("send again", toolcall_session_send(session, argv[3], options, &error), &error);
    /* Both, whatever happened: each frees its handle. */
    int closed = toolcall_session_close(session, &error);
    if (closed != 0) fprintf(stderr, "close: %s: %s\n", error.name, error.message);
    int released = toolcall_toolset_release(toolset, &error);
    if (released != 0) fprintf(stderr, "release: %s: %s\n", error.name, error.message);
    if (closed != 0 || released != 0) failed = 1;
    toolcall_error_clear(&error);
    toolcall_disconnect(client);
    free(tools);
    return failed;
}
