/* The error contract of libtoolcall: library errors and service errors fill a toolcall_error
 * by name, one error may be reused across failures without leaking (run under valgrind), and
 * an unknown bus number is refused, not undefined.
 *   errors ADDRESS
 * Prints what it checked; exit 0 when all held. */
#include <stdio.h>
#include <string.h>

#include "toolcall.h"

static int failed = 0;

static void expect(const char *what, const toolcall_error *error, const char *name) {
    if (!error->name || strcmp(error->name, name) != 0 || !error->message || !*error->message) {
        fprintf(stderr, "%s: expected %s, got %s: %s\n", what, name, error->name ? error->name : "(none)",
                error->message ? error->message : "(none)");
        failed = 1;
    } else {
        printf("%s: %s: %s\n", what, error->name, error->message);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s ADDRESS\n", argv[0]); return 2; }
    toolcall_error error = {0};
    const char *invalid = "org.toolcalld.Client.Error.InvalidArgument";

    if (toolcall_connect(7, argv[1], &error)) { fprintf(stderr, "bus 7 connected\n"); return 1; }
    expect("bus 7", &error, invalid);
    /* The same error again, filled over what it holds. */
    if (toolcall_connect(TOOLCALL_BUS_ADDRESS, NULL, &error)) { fprintf(stderr, "no address connected\n"); return 1; }
    expect("no address", &error, invalid);

    toolcall_client *client = toolcall_connect(TOOLCALL_BUS_ADDRESS, argv[1], &error);
    if (!client) { fprintf(stderr, "connect: %s: %s\n", error.name, error.message); return 3; }
    char *result = toolcall_call(client, "not json", "turn on the light", NULL, &error);
    if (result) { fprintf(stderr, "bad tools answered\n"); return 1; }
    expect("bad tools", &error, "org.toolcalld.ToolCall1.Error.InvalidTools");
    result = toolcall_call(client, "[]", "turn on the light", "{\"temperature\": 1}", &error);
    if (result) { fprintf(stderr, "an unknown option answered\n"); toolcall_string_free(result); failed = 1; }
    expect("unknown option", &error, invalid);
    result = toolcall_call(client, NULL, "turn on the light", NULL, &error);
    if (result) { fprintf(stderr, "NULL tools answered\n"); toolcall_string_free(result); failed = 1; }
    expect("NULL tools", &error, invalid);
    if (toolcall_session_reset(NULL, &error) != -1) { fprintf(stderr, "reset(NULL) succeeded\n"); failed = 1; }
    expect("NULL session", &error, invalid);
    /* A failure without an error to fill is fine too. */
    result = toolcall_call(client, "not json", "q", NULL, NULL);
    if (result) { fprintf(stderr, "answered\n"); toolcall_string_free(result); failed = 1; }
    if (toolcall_cancel(client, "nothing", &error) != 0) { fprintf(stderr, "cancelled nothing\n"); failed = 1; }
    /* Models: the list names the one bundle; a toolset on an unknown one is refused by name. */
    char *models = toolcall_list_models(client, &error);
    if (!models || !strstr(models, "\"model\":\"tiny\"") || !strstr(models, "\"default\":true")) {
        fprintf(stderr, "models: %s\n", models ? models : error.message);
        failed = 1;
    } else {
        printf("models: %s\n", models);
    }
    toolcall_string_free(models);
    toolcall_toolset *nowhere = toolcall_toolset_register_with(client, "[]", "{\"model\": \"nope\"}", &error);
    if (nowhere) { fprintf(stderr, "a toolset on no model\n"); toolcall_toolset_release(nowhere, NULL); failed = 1; }
    expect("unknown model", &error, "org.toolcalld.ToolCall1.Error.UnknownModel");
    toolcall_toolset *on_tiny = toolcall_toolset_register_with(client, "[{\"name\": \"ping\"}]", "{\"model\": \"tiny\"}", &error);
    if (!on_tiny) { fprintf(stderr, "toolset on tiny: %s\n", error.message); failed = 1; }
    else if (toolcall_toolset_release(on_tiny, &error) != 0) { fprintf(stderr, "release failed\n"); failed = 1; }

    toolcall_error_clear(&error);
    if (error.name || error.message) { fprintf(stderr, "clear left strings\n"); failed = 1; }
    toolcall_error_clear(&error);
    toolcall_disconnect(client);
    return failed;
}
