# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_toolcallctl_global_optspecs
    string join \n session system address= json= h/help V/version
end

function __fish_toolcallctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_toolcallctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_toolcallctl_using_subcommand
    set -l cmd (__fish_toolcallctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -s V -l version -d 'Print version'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "call" -d 'One-shot call: prints the result'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "register" -d 'Registers the tools once and runs each query on the registered toolset (a result each)'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "session" -d 'Multi-turn session: reads turns from stdin, one per line. A line `results: JSON` submits tool results; any other line is a user turn. A result per turn'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "status" -d 'Service version, default model and queue depth'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "models" -d 'The model bundles the service can run (names for --model), loaded or not'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "reload-models" -d 'Has the service read its model bundles again (root or the toolcall-admin group on the system bus); prints what became of each'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "route" -d 'Routes a request among the tools apps published in the registry: prints the calls, each with the app (bus name and object) that carries it out'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "dispatch" -d 'As route, then has each app carry its call out: prints each call\'s result or error'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "registry" -d 'The tools apps published in the registry, with the bus name of each one\'s app'
complete -c toolcallctl -n "__fish_toolcallctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -s t -l tools -d 'JSON file with the tool list ([{"name", "description", "parameters"}]); - for stdin' -r -F
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l max-calls -d 'Most calls in one answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l max-new-tokens -d 'Most generated tokens' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l timeout-ms -d 'Deadline in milliseconds' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l facts -d 'Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom"' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l call-margin -d 'How much more (in logits) the model must prefer another call than ending the answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l format -d 'The result JSON\'s shape: toolcalld\'s own, or an OpenAI chat completion\'s assistant message with `tool_calls`' -r -f -a "toolcalld\t''
openai\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l model -d 'The model bundle to run on, by its name in `toolcallctl models` (default: the service\'s default model)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l require-call -d 'Require at least one call (no empty answer)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l no-escalate -d 'Keep the requests on the device even where the service escalates unsure answers to a bigger model (call, register, route and dispatch; session turns are never escalated)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand call" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -s t -l tools -d 'JSON file with the tool list ([{"name", "description", "parameters"}]); - for stdin' -r -F
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l max-calls -d 'Most calls in one answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l max-new-tokens -d 'Most generated tokens' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l timeout-ms -d 'Deadline in milliseconds' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l facts -d 'Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom"' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l call-margin -d 'How much more (in logits) the model must prefer another call than ending the answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l format -d 'The result JSON\'s shape: toolcalld\'s own, or an OpenAI chat completion\'s assistant message with `tool_calls`' -r -f -a "toolcalld\t''
openai\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l model -d 'The model bundle to run on, by its name in `toolcallctl models` (default: the service\'s default model)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l require-call -d 'Require at least one call (no empty answer)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l no-escalate -d 'Keep the requests on the device even where the service escalates unsure answers to a bigger model (call, register, route and dispatch; session turns are never escalated)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand register" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -s t -l tools -d 'JSON file with the tool list ([{"name", "description", "parameters"}]); - for stdin' -r -F
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l max-calls -d 'Most calls in one answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l max-new-tokens -d 'Most generated tokens' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l timeout-ms -d 'Deadline in milliseconds' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l facts -d 'Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom"' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l call-margin -d 'How much more (in logits) the model must prefer another call than ending the answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l format -d 'The result JSON\'s shape: toolcalld\'s own, or an OpenAI chat completion\'s assistant message with `tool_calls`' -r -f -a "toolcalld\t''
openai\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l model -d 'The model bundle to run on, by its name in `toolcallctl models` (default: the service\'s default model)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l require-call -d 'Require at least one call (no empty answer)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l no-escalate -d 'Keep the requests on the device even where the service escalates unsure answers to a bigger model (call, register, route and dispatch; session turns are never escalated)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand session" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand status" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand status" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand status" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand status" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand models" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand models" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand models" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand models" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand models" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand reload-models" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand reload-models" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand reload-models" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand reload-models" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand reload-models" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l max-calls -d 'Most calls in one answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l max-new-tokens -d 'Most generated tokens' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l timeout-ms -d 'Deadline in milliseconds' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l facts -d 'Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom"' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l call-margin -d 'How much more (in logits) the model must prefer another call than ending the answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l format -d 'The result JSON\'s shape: toolcalld\'s own, or an OpenAI chat completion\'s assistant message with `tool_calls`' -r -f -a "toolcalld\t''
openai\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l model -d 'The model bundle to run on, by its name in `toolcallctl models` (default: the service\'s default model)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l only -d 'Choose only among these published tools (PREFIX.NAME; repeat it)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l require-call -d 'Require at least one call (no empty answer)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l no-escalate -d 'Keep the requests on the device even where the service escalates unsure answers to a bigger model (call, register, route and dispatch; session turns are never escalated)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand route" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l max-calls -d 'Most calls in one answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l max-new-tokens -d 'Most generated tokens' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l timeout-ms -d 'Deadline in milliseconds' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l facts -d 'Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom"' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l call-margin -d 'How much more (in logits) the model must prefer another call than ending the answer' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l format -d 'The result JSON\'s shape: toolcalld\'s own, or an OpenAI chat completion\'s assistant message with `tool_calls`' -r -f -a "toolcalld\t''
openai\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l model -d 'The model bundle to run on, by its name in `toolcallctl models` (default: the service\'s default model)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l only -d 'Choose only among these published tools (PREFIX.NAME; repeat it)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l require-call -d 'Require at least one call (no empty answer)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l no-escalate -d 'Keep the requests on the device even where the service escalates unsure answers to a bigger model (call, register, route and dispatch; session turns are never escalated)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand dispatch" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand registry" -l address -d 'Use the bus at this D-Bus address (unix:path=...)' -r
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand registry" -l json -d 'Print results as JSON, one line each (short, the default off a terminal) or indented (pretty). On a terminal, without this flag, results are printed for people' -r -f -a "short\t''
pretty\t''"
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand registry" -l session -d 'Use the session bus'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand registry" -l system -d 'Use the system bus (the default)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand registry" -s h -l help -d 'Print help'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "call" -d 'One-shot call: prints the result'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "register" -d 'Registers the tools once and runs each query on the registered toolset (a result each)'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "session" -d 'Multi-turn session: reads turns from stdin, one per line. A line `results: JSON` submits tool results; any other line is a user turn. A result per turn'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "status" -d 'Service version, default model and queue depth'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "models" -d 'The model bundles the service can run (names for --model), loaded or not'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "reload-models" -d 'Has the service read its model bundles again (root or the toolcall-admin group on the system bus); prints what became of each'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "route" -d 'Routes a request among the tools apps published in the registry: prints the calls, each with the app (bus name and object) that carries it out'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "dispatch" -d 'As route, then has each app carry its call out: prints each call\'s result or error'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "registry" -d 'The tools apps published in the registry, with the bus name of each one\'s app'
complete -c toolcallctl -n "__fish_toolcallctl_using_subcommand help; and not __fish_seen_subcommand_from call register session status models reload-models route dispatch registry help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
